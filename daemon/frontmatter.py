"""The optional YAML front matter at the top of a caption file: per-post overrides.

---
platforms: [telegram, email]
captions:
  telegram: A shorter caption just for Telegram.
---
The caption every other platform gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import yaml
from pydantic import Field, ValidationError

from daemon.settings import StrictModel, describe_issue

_FENCE = "---"


ContentWarningKind = Literal["nudity", "sexual", "porn", "graphic-media"]


@dataclass(frozen=True)
class ContentWarning:
    """What a post's images show that a viewer may not want to see unasked.

    Each platform maps it to its own mechanism (a spoiler, a label, a sensitive flag).
    `text` is the owner's own words shown in front of the images; "" leaves the wording
    to the platform (or to `describe`).
    """

    kind: ContentWarningKind
    text: str = ""

    def describe(self) -> str:
        """The words to show where a platform takes only text: the owner's, else the kind."""
        return self.text or self.kind.replace("-", " ")


class FrontMatterError(ValueError):
    """Raised when a caption's front matter is not closed, not YAML, or has unknown keys."""


class Overrides(StrictModel):
    """What a post's front matter may set."""

    platforms: tuple[str, ...] | None = Field(default=None, min_length=1)
    captions: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class Caption:
    """A caption file's text split into its body and its overrides."""

    body: str
    overrides: Overrides = field(default_factory=Overrides)


def parse_caption(text: str) -> Caption:
    """Split `text` (a whole caption file, BOM already removed) into body and overrides."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != _FENCE:
        return Caption(body=text)
    for index, line in enumerate(lines[1:], start=1):
        if line.rstrip("\r\n") == _FENCE:
            overrides = _parse_overrides("".join(lines[1:index]))
            return Caption(body="".join(lines[index + 1 :]), overrides=overrides)
    raise FrontMatterError("front matter starts with '---' on line 1 but is never closed")


def _parse_overrides(block: str) -> Overrides:
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError as error:
        raise FrontMatterError(f"front matter is not valid YAML: {error}") from None
    if data is None:
        return Overrides()
    if not isinstance(data, dict):
        raise FrontMatterError("front matter must be a mapping of keys to values")
    try:
        return Overrides.model_validate(data)
    except ValidationError as error:
        raise FrontMatterError(f"front matter: {_describe(error)}") from None


def _describe(error: ValidationError) -> str:
    problems = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        problems.append(f"{where}: {describe_issue(problem['type'], problem['msg'])}")
    return "; ".join(problems)
