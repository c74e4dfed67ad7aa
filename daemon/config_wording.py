"""Config mistakes in the words of a person editing `config.yaml`.

A validation issue names the bad value (or `(hidden)` for a secret) and what was expected:
`'five' is not a whole number`, `'sometimes' is not one of: auto, always, never`, an unknown
key with the known one it is closest to. A YAML error points at the line a bracket or quote
that is never closed was opened on, which is where the mistake is, not where the parser
noticed it.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Callable, Collection, Sequence
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr
from pydantic_core import ErrorDetails

HIDDEN = "(hidden)"
_MAX_SHOWN = 60  # a value longer than this is cut: the line says which key, not the whole text

Location = Sequence[str | int]


def describe_config_issue(issue: ErrorDetails, model: type[BaseModel], hidden: bool) -> str:
    """What is wrong at `issue["loc"]` of `model`; `hidden` keeps its value out of the words."""
    kind, location = issue["type"], issue["loc"]
    if kind == "extra_forbidden":  # never its value: a mistyped key may well hold a password
        return unknown_key(str(location[-1]), known_keys(model, location[:-1]))
    if kind == "missing":
        return "required key is missing"
    hidden = hidden or SecretStr in _types_at(model, location)
    value = HIDDEN if hidden else shown(issue.get("input"))
    if kind in ("value_error", "assertion_error"):
        return _validator_words(issue, value, hidden)
    ctx = issue.get("ctx") or {}
    for kinds, words in _WORDS:
        if kind in kinds:
            return words(value, ctx)
    message = issue["msg"]
    should = message.removeprefix("Input should be ")
    return f"{value} is not valid: it should be {should}" if should != message else message


def unknown_key(key: str, known: Collection[str]) -> str:
    closest = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return f"unknown key {key!r} ({f'did you mean {closest[0]!r}?' if closest else 'a typo?'})"


def shown(value: object) -> str:
    """A value as the owner wrote it in YAML, short; a list or mapping by its kind."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "an empty value"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list | tuple):
        return f"a list of {_items(len(value))}" if value else "an empty list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= _MAX_SHOWN else f"{text[: _MAX_SHOWN - 4]}...{text[-1]}"


def _choices(ctx: dict[str, Any]) -> str:
    expected = str(ctx.get("expected", ""))
    return ", ".join(re.findall(r"'([^']*)'", expected)) or expected


def _number(ctx: dict[str, Any], bound: str) -> str:
    value = ctx[bound]
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _items(count: object) -> str:
    return f"{count} item{'s' * (count != 1)}"


_Words = Callable[[str, dict[str, Any]], str]
_WORDS: list[tuple[tuple[str, ...], _Words]] = [
    (("int_parsing", "int_type", "int_from_float"), lambda v, c: f"{v} is not a whole number"),
    (("float_parsing", "float_type", "finite_number"), lambda v, c: f"{v} is not a number"),
    (("bool_parsing", "bool_type"), lambda v, c: f"{v} is not true or false"),
    (("literal_error", "enum"), lambda v, c: f"{v} is not one of: {_choices(c)}"),
    (("string_type",), lambda v, c: f"{v} is not text"),
    (("path_type",), lambda v, c: f"{v} is not a path"),
    (
        ("model_type", "dict_type", "model_attributes_type"),
        lambda v, c: f"{v} is not a mapping of keys to values",
    ),
    (("list_type", "tuple_type", "set_type", "frozen_set_type"), lambda v, c: f"{v} is not a list"),
    (
        ("greater_than_equal",),
        lambda v, c: f"{v} is too small: it must be at least {_number(c, 'ge')}",
    ),
    (("greater_than",), lambda v, c: f"{v} is too small: it must be more than {_number(c, 'gt')}"),
    (("less_than_equal",), lambda v, c: f"{v} is too large: it must be at most {_number(c, 'le')}"),
    (("less_than",), lambda v, c: f"{v} is too large: it must be less than {_number(c, 'lt')}"),
    (("too_short",), lambda v, c: f"{v} is too short: give at least {_items(c['min_length'])}"),
    (("too_long",), lambda v, c: f"{v} is too long: give at most {_items(c['max_length'])}"),
    (
        ("string_too_short",),
        lambda v, c: f"{v} is too short: at least {c['min_length']} characters",
    ),
    (
        ("string_too_long",),
        lambda v, c: f"{v} is too long: at most {c['max_length']} characters",
    ),
]


def _validator_words(issue: ErrorDetails, value: str, hidden: bool) -> str:
    """A validator's own message, which says what was expected; with the value if it lacks it."""
    message = issue["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    scalar = not isinstance(issue.get("input"), dict | list | tuple)
    if hidden or not scalar or value in message:
        return message
    return f"{message} (found {value})"


def known_keys(model: type[BaseModel], location: Location) -> set[str]:
    """The keys the settings model at `location` of `model` knows."""
    return {
        name
        for kind in _types_at(model, location)
        if isinstance(kind, type) and issubclass(kind, BaseModel)
        for name in kind.model_fields
    }


def _types_at(model: type[BaseModel], location: Location) -> list[Any]:
    """The types a value at `location` may have (unwrapped from `X | None`, lists, ...)."""
    kinds: list[Any] = [model]
    for part in location:
        if isinstance(part, int):
            continue  # an item of a list: its type is already among the unwrapped ones
        inside = [
            kind.model_fields[part].annotation
            for kind in kinds
            if isinstance(kind, type) and issubclass(kind, BaseModel) and part in kind.model_fields
        ]
        if inside:  # else a mapping's key: its values' type is already among them
            kinds = [unwrapped for annotation in inside for unwrapped in _unwrapped(annotation)]
    return kinds


def _unwrapped(annotation: Any) -> list[Any]:
    arguments = typing.get_args(annotation)
    if not arguments:
        return [annotation]
    return [kind for argument in arguments for kind in _unwrapped(argument)]


# What pyyaml says while inside something opened earlier, and what opened it.
_OPENERS = {"while parsing a flow mapping": "{", "while parsing a flow sequence": "["}
_END_OF_STREAM = "found unexpected end of stream"


def describe_yaml_error(error: yaml.MarkedYAMLError, text: str) -> tuple[int | None, str]:
    """The line to name and the words for a YAML syntax error.

    pyyaml reports where it noticed the mistake: for a bracket or quote that is never
    closed, that is the next key or the end of the file, so the opening line is named.
    """
    noticed = error.problem_mark.line + 1 if error.problem_mark else None
    opening = _opening(error, text)
    if opening is None or noticed is None or opening[1] + 1 == noticed:
        return noticed, f"not valid YAML: {error.problem or error}"
    opener, line, column = opening
    found = (
        "the file ends inside it"
        if error.problem == _END_OF_STREAM or "'<stream end>'" in str(error.problem)
        else f"at line {noticed}: {error.problem}"
    )
    return line + 1, (
        f"not valid YAML: the {opener} opened here (column {column + 1}) is never closed ({found})"
    )


def _opening(error: yaml.MarkedYAMLError, text: str) -> tuple[str, int, int] | None:
    """The bracket or quote (and its line and column, from 0) the error is inside, if any."""
    mark = error.context_mark
    if error.context in _OPENERS and mark is not None:
        return _OPENERS[error.context], mark.line, mark.column
    if error.context == "while scanning a quoted scalar" and mark is not None:
        if error.problem != _END_OF_STREAM:
            return None  # a bad escape inside a quote: where it is is right
        return text.splitlines()[mark.line][mark.column], mark.line, mark.column
    if error.context == "while parsing a flow node" and error.problem_mark is not None:
        return _innermost_open_bracket(text.splitlines()[: error.problem_mark.line + 1])
    return None


def _innermost_open_bracket(lines: list[str]) -> tuple[str, int, int] | None:
    """The last `[` or `{` still open at the end of `lines`, roughly as YAML reads them.

    Used where pyyaml's own mark points elsewhere (`[a, b,` and then the end). A bracket
    or quote counts only where a value starts (a plain `it's [draft]` is text).
    """
    stack: list[tuple[str, int, int]] = []
    for number, line in enumerate(lines):
        quote, before = "", ""
        for column, character in enumerate(line):
            if quote:
                quote = "" if character == quote else quote  # '' and \" are rare in folders
            elif character == "#" and before in ("", " ", "\t"):
                break  # a comment
            elif character in "'\"" and (stack or _starts_value(line[:column])):
                quote = character
            elif character in "[{" and (stack or _starts_value(line[:column])):
                stack.append((character, number, column))
            elif character in "]}" and stack:
                stack.pop()
            before = character
    return stack[-1] if stack else None


def _starts_value(before: str) -> bool:
    """Whether a value starts after `before`: at a line's start, after `key: ` or `- `."""
    stripped = before.rstrip()
    return not stripped or (stripped.endswith((":", "-", ",", "[", "{")) and before != stripped)
