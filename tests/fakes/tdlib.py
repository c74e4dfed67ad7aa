"""TDLib's own text parser (`parseTextEntities`), the one the official Bot API server runs.

A small wrapper around `tdjson.td_execute`: `parse(text, "HTML")` gives the plain text and
entities Telegram reads from a caption, or raises ParseError with TDLib's message. Entity
offsets come back in code points (TDLib counts UTF-16 code units), so they index the text.
If `tdjson` cannot be imported, `require()` skips the test that needs it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

_MODES: dict[str, dict[str, Any]] = {
    "HTML": {"@type": "textParseModeHTML"},
    "MARKDOWNV2": {"@type": "textParseModeMarkdown", "version": 2},
    "MARKDOWN": {"@type": "textParseModeMarkdown", "version": 1},
}
_PREFIX = "Can't parse entities: "


@dataclass(frozen=True)
class Entity:
    """One entity: `type` without its "textEntityType" prefix; `data` the type's own fields."""

    offset: int
    length: int
    type: str
    data: tuple[tuple[str, str], ...] = ()

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass(frozen=True)
class ParsedText:
    text: str
    entities: tuple[Entity, ...]


class ParseError(ValueError):
    """TDLib refused the markup; the message is TDLib's, without "Can't parse entities: "."""


def require() -> None:
    """Skip the calling test, saying why, when TDLib is not installed."""
    _executor()


def parse(text: str, parse_mode: str) -> ParsedText:
    """The plain text and entities TDLib reads from `text` in `parse_mode` (case ignored)."""
    mode = _MODES.get(parse_mode.upper())
    if mode is None:
        raise ValueError(f"unknown parse mode {parse_mode!r}")
    answer = _execute({"@type": "parseTextEntities", "text": text, "parse_mode": mode})
    if answer.get("@type") == "error":
        message = str(answer.get("message", ""))
        raise ParseError(message.removeprefix(_PREFIX))
    plain = str(answer["text"])
    return ParsedText(plain, tuple(_entity(item, plain) for item in answer["entities"]))


def parsed_length(text: str, parse_mode: str | None) -> int:
    """The length Telegram checks against its limits: code points after parsing."""
    return len(text if parse_mode is None else parse(text, parse_mode).text)


def _entity(item: dict[str, Any], text: str) -> Entity:
    start = _code_points(text, int(item["offset"]))
    end = _code_points(text, int(item["offset"]) + int(item["length"]))
    kind = dict(item["type"])
    name = str(kind.pop("@type")).removeprefix("textEntityType")
    data = tuple(sorted((key, json.dumps(value, sort_keys=True)) for key, value in kind.items()))
    return Entity(start, end - start, name, data)


def _code_points(text: str, utf16_offset: int) -> int:
    """The index in `text` of the character `utf16_offset` UTF-16 code units in."""
    units = 0
    for index, character in enumerate(text):
        if units >= utf16_offset:
            return index
        units += 2 if ord(character) > 0xFFFF else 1
    return len(text)


def _execute(request: dict[str, Any]) -> dict[str, Any]:
    answer = _executor()(json.dumps(request).encode())
    if answer is None:
        raise RuntimeError(f"TDLib gave no answer to {request['@type']}")
    result: dict[str, Any] = json.loads(answer)
    return result


@cache
def _load() -> Callable[[bytes], bytes | None] | str:
    """TDLib's td_execute, quietened, or why it cannot be loaded."""
    try:
        from tdjson import td_execute
    except ImportError as error:  # tdjson is a test dependency; without it, skip
        return f"TDLib (the tdjson package) is not installed: {error}"
    td_execute(json.dumps({"@type": "setLogVerbosityLevel", "new_verbosity_level": 0}).encode())
    return td_execute


def _executor() -> Callable[[bytes], bytes | None]:
    loaded = _load()
    if isinstance(loaded, str):
        pytest.skip(loaded)
    return loaded
