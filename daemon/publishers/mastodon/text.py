"""A caption to Mastodon's limit: how Mastodon counts a status, and a thread when it is longer.

Mastodon counts a status (`StatusLengthValidator`) in grapheme clusters, its content
warning included, with every link (`http://` or `https://`) as `characters_reserved_per_url`
characters however long it is, and a mention of a remote account (`@name@server`) as its
`@name` alone. A caption that does not fit becomes several statuses (`daemon.text_split`),
never cut inside a link or a mention.
"""

from __future__ import annotations

import re

from daemon.publishers.mastodon.instance import Limits
from daemon.text_split import grapheme_count, split_text

__all__ = ["CaptionSplitError", "split_caption", "status_length"]

_URL = re.compile(r"https?://[^\s<>\"]+")
_URL_TRAILER = ".,;:!?'\")]"  # punctuation after a link is not part of it
_MENTION = re.compile(r"(?<![\w@/])@(\w+)@[\w.-]+\w")


class CaptionSplitError(ValueError):
    """Raised when no status could hold any caption: the content warning fills the limit."""


def _links(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in _URL.finditer(text):
        url = match.group().rstrip(_URL_TRAILER)
        spans.append((match.start(), match.start() + len(url)))
    return spans


def status_length(text: str, limits: Limits) -> int:
    """How long Mastodon finds `text` (without its content warning)."""
    counted = text
    for start, end in reversed(_links(text)):
        counted = counted[:start] + "x" * limits.characters_reserved_per_url + counted[end:]
    counted = _MENTION.sub(lambda match: "@" + match.group(1), counted)
    return grapheme_count(counted)


def split_caption(caption: str, limits: Limits, spoiler_text: str = "") -> list[str]:
    """The caption as statuses of at most `max_characters` each, with `spoiler_text` on each.

    An empty caption gives no statuses.
    """
    budget = limits.max_characters - grapheme_count(spoiler_text)
    if budget < 1:
        raise CaptionSplitError(
            f"the content warning's text is {grapheme_count(spoiler_text)} characters: "
            f"nothing of the caption fits in the server's {limits.max_characters}"
        )
    keep_whole = _links(caption) + [m.span() for m in _MENTION.finditer(caption)]
    return split_text(
        caption,
        budget,
        measure=lambda piece: status_length(piece, limits),
        keep_whole=keep_whole,
    )


def as_shown(text: str) -> str:
    """`text` as a status shows it: a remote account's mention `@name@server` as `@name`."""
    return _MENTION.sub(lambda match: "@" + match.group(1), text)
