"""The optional YAML front matter at the top of a caption file: per-post overrides.

---
platforms: [telegram, email]
captions:
  telegram: A shorter caption just for Telegram.
alt:                       # one text per image, in order (or one string for one image)
  - A red sunset over the lake
  - The same lake at night
content_warning: nudity    # none | nudity | sexual | porn | graphic-media
spoiler_text: Beach, nude  # shown in front of the images; needs a content warning
---
The caption every other platform gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from daemon.settings import StrictModel, describe_issue

_FENCE = "---"


ContentWarningKind = Literal["nudity", "sexual", "porn", "graphic-media"]
# What the front matter's `content_warning` (and the config's default) may say.
ContentWarningChoice = Literal["none", "nudity", "sexual", "porn", "graphic-media"]
CONTENT_WARNING_CHOICES: tuple[str, ...] = get_args(ContentWarningChoice)


def check_content_warning(value: object) -> object:
    """`value` if it is one of the choices; else an error listing them (a typo is common)."""
    if isinstance(value, str) and value in CONTENT_WARNING_CHOICES:
        return value
    choices = ", ".join(CONTENT_WARNING_CHOICES)
    raise ValueError(f"{value!r} is not a content warning; choose one of {choices}")


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
    """What a post's front matter may set (None: it says nothing of it)."""

    platforms: tuple[str, ...] | None = Field(default=None, min_length=1)
    captions: dict[str, str] = Field(default_factory=dict)
    alt: tuple[str, ...] | str | None = None
    content_warning: ContentWarningChoice | None = None
    spoiler_text: str | None = None

    @field_validator("alt", mode="before")
    @classmethod
    def _alt_texts(cls, value: object) -> object:
        """A list of texts (an empty item: no alt text for that image), or one text."""
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and all(item is None or isinstance(item, str) for item in value):
            return tuple("" if item is None else item for item in value)
        raise ValueError(
            "expected a list of texts, one per image in order, or one text for a one-image post"
        )

    @field_validator("content_warning", mode="before")
    @classmethod
    def _known_warning(cls, value: object) -> object:
        return None if value is None else check_content_warning(value)

    @model_validator(mode="after")
    def _spoiler_with_a_warning(self) -> Overrides:
        if self.spoiler_text is not None and self.content_warning == "none":
            raise ValueError(
                "spoiler_text is given with content_warning: none; "
                "choose a content warning or remove spoiler_text"
            )
        return self

    def alt_texts(self, images: int) -> tuple[str, ...]:
        """The alt texts for a post of `images` images; more texts than images is an error."""
        if self.alt is None:
            return ()
        if isinstance(self.alt, str):
            if images > 1:
                raise FrontMatterError(
                    f"alt is one text but the post has {images} images; "
                    "give a list, one text per image in order"
                )
            return (self.alt,)
        if len(self.alt) > images:
            raise FrontMatterError(
                f"alt has {len(self.alt)} texts but the post has {_images(images)}; "
                "give one text per image, in order"
            )
        return self.alt

    def warning_in_force(self, default: ContentWarningChoice) -> ContentWarning | None:
        """The post's content warning: its own, else `default` (the config's); None for none."""
        choice = self.content_warning or default
        if choice == "none":
            if self.spoiler_text is not None:
                raise FrontMatterError(
                    "spoiler_text needs a content warning and none is in force (the config's "
                    f"default_content_warning is none); add content_warning: {_KINDS}"
                )
            return None
        return ContentWarning(choice, self.spoiler_text or "")


_KINDS = " | ".join(get_args(ContentWarningKind))


def _images(count: int) -> str:
    return "1 image" if count == 1 else f"{count} images"


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
        issue = describe_issue(problem["type"], problem["msg"])
        problems.append(f"{where}: {issue}" if where else issue)  # no key: the whole block's
    return "; ".join(problems)
