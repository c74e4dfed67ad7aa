"""Splitting a long text into pieces that each fit a platform's limit, for threads of replies.

A piece ends at the best boundary that fits: a paragraph (a blank line), else a sentence
(`.`, `!`, `?` or `…` and a space, or a line break), else a word (any whitespace), and only
ever between grapheme clusters (`regex`'s `\\X`), so an emoji ZWJ sequence, a flag or a
skin-tone modifier stays whole. A span the caller keeps whole (a link) is never cut either.
Failing every boundary (one word longer than the limit) the piece ends at the last grapheme
that fits. Nothing is dropped but the whitespace at the cuts.

How long a piece is, is the platform's own count (`measure`): graphemes by default; Mastodon
counts each link as a fixed number of characters.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence

import regex

__all__ = ["grapheme_count", "split_text"]

_GRAPHEME = regex.compile(r"\X")
_SENTENCE_END = frozenset(".!?…")
# A boundary of a better kind is taken only if its piece fills at least this share of the
# limit: a paragraph break three words in would make a thread of tiny posts.
_MIN_FILL = 0.5

Measure = Callable[[str], int]


def grapheme_count(text: str) -> int:
    """Length in user-perceived characters (grapheme clusters), as Mastodon and Bluesky count."""
    return len(_GRAPHEME.findall(text))


def split_text(
    text: str,
    limit: int,
    *,
    measure: Measure = grapheme_count,
    keep_whole: Sequence[tuple[int, int]] = (),
) -> list[str]:
    """`text` as pieces of at most `limit` by `measure`, cut at the best boundaries.

    `keep_whole` lists (start, end) spans of `text` never cut inside. An empty (or
    all-whitespace) text gives no pieces; a text that fits gives itself, stripped.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    safe = _safe_places(text, keep_whole)
    pieces: list[str] = []
    start = _skip_space(text, 0)
    while start < len(text):
        cut = _cut(text, start, limit, measure, safe)
        piece = text[start:cut].strip()
        if piece:
            pieces.append(piece)
        start = _skip_space(text, cut)
    return pieces


def _safe_places(text: str, keep_whole: Sequence[tuple[int, int]]) -> list[int]:
    """The places between graphemes that cut no span kept whole, in order."""
    ends = [match.end() for match in _GRAPHEME.finditer(text)]
    return [p for p in ends if not any(a < p < b for a, b in keep_whole)]


def _skip_space(text: str, place: int) -> int:
    while place < len(text) and text[place].isspace():
        place += 1
    return place


def _cut(text: str, start: int, limit: int, measure: Measure, safe: list[int]) -> int:
    """Where the piece from `start` ends."""
    low = bisect.bisect_right(safe, start)
    candidates = safe[low:]
    # The furthest place whose piece still fits (a piece only grows as it goes on).
    fits = bisect.bisect_right(candidates, 0, key=lambda p: measure(text[start:p].rstrip()) > limit)
    if fits == 0:
        # Not even one grapheme fits (or one kept span is longer than the limit): take it.
        return candidates[0] if candidates else len(text)
    furthest = candidates[fits - 1]
    if furthest == len(text):
        return furthest
    return _best_boundary(text, start, candidates[:fits]) or furthest


def _best_boundary(text: str, start: int, places: list[int]) -> int | None:
    """The last paragraph, else sentence, else word boundary among `places`.

    A better kind wins only if its piece fills at least half the window; failing that,
    the last word boundary anywhere.
    """
    window = places[-1] - start
    last: dict[int, int] = {}  # level (2 paragraph, 1 sentence, 0 word) -> last such place
    for place in places:
        level = _boundary_level(text, place)
        if level is not None:
            last[level] = place
    for level in (2, 1):
        if level in last and last[level] - start >= window * _MIN_FILL:
            return last[level]
    return last.get(0)


def _boundary_level(text: str, place: int) -> int | None:
    """How good a cut at `place` is: a place where whitespace begins after text."""
    if place >= len(text) or not text[place].isspace() or text[place - 1].isspace():
        return None
    run = text[place : _skip_space(text, place)]
    if run.count("\n") >= 2:
        return 2
    if "\n" in run or text[place - 1] in _SENTENCE_END:
        return 1
    return 0
