"""Instagram's caption limits: at most so many characters and so many hashtags.

With `too_long: truncate` a caption over a limit is shortened (hashtags past the limit are
dropped, then the text is cut at a word boundary and ends with "…"); with `fail` it is
refused with an error that says by how much it is over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

TooLongPolicy = Literal["truncate", "fail"]

ELLIPSIS = "…"
# A hashtag: "#" not glued to a word before it, then letters, digits or underscores.
HASHTAG = re.compile(r"(?<!\w)#\w+")
_HASHTAG_WITH_SPACE = re.compile(r"[ \t]*(?<!\w)#\w+")
_LAST_SPACE = re.compile(r"\s\S*\Z")


class CaptionTooLongError(ValueError):
    """Raised by `fit_caption` under `too_long: fail` when a caption is over a limit."""


@dataclass(frozen=True)
class FittedCaption:
    """The caption Instagram gets, and what was taken out of it to fit."""

    text: str
    dropped_hashtags: int = 0
    truncated: bool = False
    notes: tuple[str, ...] = ()  # what was taken out, in words for the result record

    @property
    def changed(self) -> bool:
        return self.truncated or self.dropped_hashtags > 0


def fit_caption(
    text: str, *, max_chars: int, max_hashtags: int, policy: TooLongPolicy
) -> FittedCaption:
    """Bring `text` within the limits, or raise `CaptionTooLongError` under the `fail` policy."""
    hashtags = len(HASHTAG.findall(text))
    if policy == "fail":
        _refuse_if_over(text, hashtags, max_chars=max_chars, max_hashtags=max_hashtags)
        return FittedCaption(text)
    kept = drop_hashtags(text, max_hashtags) if hashtags > max_hashtags else text
    shortened = truncate(kept, max_chars)
    dropped, truncated = max(0, hashtags - max_hashtags), shortened != kept
    notes = []
    if dropped:
        notes.append(
            f"{dropped} of {hashtags} hashtags dropped from the caption "
            f"(max_hashtags: {max_hashtags})"
        )
    if truncated:
        notes.append(
            f"caption cut from {len(text):,} to {len(shortened):,} characters at a word "
            f"boundary, ending in {ELLIPSIS} (max_caption_chars: {max_chars:,})"
        )
    return FittedCaption(shortened, dropped, truncated, tuple(notes))


def _refuse_if_over(text: str, hashtags: int, *, max_chars: int, max_hashtags: int) -> None:
    problems = []
    if len(text) > max_chars:
        problems.append(
            f"{len(text):,} characters, {len(text) - max_chars:,} over the limit of "
            f"{max_chars:,} (max_caption_chars)"
        )
    if hashtags > max_hashtags:
        problems.append(
            f"{hashtags} hashtags, {hashtags - max_hashtags} over the limit of "
            f"{max_hashtags} (max_hashtags)"
        )
    if problems:
        raise CaptionTooLongError(
            f"the caption has {' and '.join(problems)}; shorten it, give Instagram a caption "
            "of its own in the front matter (captions: {instagram: ...}), or set too_long: truncate"
        )


def drop_hashtags(text: str, keep: int) -> str:
    """`text` with every hashtag after the first `keep` removed (with the spaces before it)."""
    seen = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal seen
        seen += 1
        return match.group(0) if seen <= keep else ""

    kept = _HASHTAG_WITH_SPACE.sub(replace, text)
    return "\n".join(line.rstrip() for line in kept.splitlines()).strip()


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at a word boundary, ending with "…"."""
    if len(text) <= limit:
        return text
    head = text[: limit - len(ELLIPSIS)]
    if not text[len(head)].isspace():  # the cut falls inside a word: go back to its start
        last_space = _LAST_SPACE.search(head)
        # One enormous "word" (a URL, say) is cut where it must be, rather than lost whole.
        if last_space is not None and last_space.start() > len(head) // 2:
            head = head[: last_space.start()]
    return head.rstrip() + ELLIPSIS
