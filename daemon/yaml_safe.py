"""YAML that cannot blow up: aliases are counted from the parser's events before anything is built.

An alias is a reference, so ten short lines of them can stand for millions of values (the
"billion laughs"). PyYAML builds them as shared objects, cheaply, but whatever walks the
result afterwards (validation, `${...}` references, error messages) walks every copy.
"""

from __future__ import annotations

from typing import Any

import yaml


class YamlAliasError(ValueError):
    """Raised when a document holds aliases (`*name`) where none are allowed."""

    def __init__(self, count: int, line: int) -> None:
        self.count = count
        self.line = line  # of the first alias, from 1
        super().__init__(f"line {line}: {count} YAML alias{'es' * (count != 1)}")


class YamlTooDeepError(ValueError):
    """Raised when a document nests deeper than the parser can follow (it recurses)."""


def load_without_aliases(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree and its value; raises `YamlAliasError` if it uses aliases.

    Also raises `yaml.YAMLError` for YAML that does not parse.
    """
    try:
        _refuse_aliases(text)
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            return node, None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except RecursionError:
        raise YamlTooDeepError("nested too deeply to read") from None


def _refuse_aliases(text: str) -> None:
    count, first = 0, 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):  # linear: nothing is expanded
        if isinstance(event, yaml.AliasEvent):
            count += 1
            first = first or (event.start_mark.line + 1 if event.start_mark else 1)
    if count:
        raise YamlAliasError(count, first)
