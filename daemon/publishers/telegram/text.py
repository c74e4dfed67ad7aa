"""Telegram caption rules: how long a caption may be, and how a longer one is split.

Telegram counts a bot's caption or text after entity parsing, in Unicode code points:
`<b>hi</b>` is two characters, `&amp;` is one, and so is an emoji outside the Basic
Multilingual Plane (1,024 of them fit in one caption). Lengths here are code points too.

A caption with markup is read the way Telegram's own parser (TDLib's `parse_html` and
`parse_markdown_v2`) reads it, into its plain text and the entities over that text. The
plain text is split at the best boundary (a paragraph, a line, a word) and only ever
between grapheme clusters (`regex`'s `\\X`), so an emoji ZWJ sequence, a flag or a skin-tone
modifier stays whole; custom emoji and `tg-time` entities are never cut either. Each piece
is then written back as markup of its own, its entities clipped to it, so every piece is
well-formed on its own and the pieces together carry the same formatting.

A caption that fits is sent as written. A caption whose markup cannot be read is split as
plain text and sent as it is, so Telegram says what is wrong with it.

This module is the public face and the splitting; the model of a read caption is in
`formatted`, reading and writing each markup in `html` and `markdown`.
"""

from __future__ import annotations

import bisect
from typing import Literal

import regex

from daemon.publishers.telegram.formatted import Formatted, MarkupError, Span, clip
from daemon.publishers.telegram.html import read_html, write_html
from daemon.publishers.telegram.markdown import read_markdown, write_markdown

__all__ = [
    "CAPTION_LIMIT",
    "MESSAGE_LIMIT",
    "Formatted",
    "MarkupError",
    "ParseMode",
    "Span",
    "parse",
    "render",
    "split_caption",
    "text_length",
    "visible_length",
]

ParseMode = Literal["HTML", "MarkdownV2"]

CAPTION_LIMIT = 1024  # a photo's or document's caption
MESSAGE_LIMIT = 4096  # a text message

_ATOMIC = frozenset({"emoji", "date"})  # a custom emoji, a tg-time: never cut inside
_GRAPHEME = regex.compile(r"\X")


def text_length(text: str) -> int:
    """Length as Telegram counts it: Unicode code points."""
    return len(text)


def visible_length(text: str, parse_mode: ParseMode | None) -> int:
    """How long `text` is once Telegram has parsed its markup."""
    return len(parse(text, parse_mode).text)


def parse(text: str, parse_mode: ParseMode | None) -> Formatted:
    """The plain text and entities Telegram reads from `text`; raises MarkupError."""
    if parse_mode == "HTML":
        return read_html(text)
    if parse_mode == "MarkdownV2":
        return read_markdown(text)
    return Formatted(text)


def split_caption(
    text: str,
    parse_mode: ParseMode | None,
    first_limit: int = CAPTION_LIMIT,
    limit: int = MESSAGE_LIMIT,
) -> list[str]:
    """The caption as a first piece of at most `first_limit`, then pieces of at most `limit`.

    An empty (or all-whitespace) caption gives no pieces at all.
    """
    try:
        formatted = parse(text, parse_mode)
    except MarkupError:
        formatted, parse_mode = Formatted(text), None  # Telegram will say what is wrong
    shown = formatted.text
    start = len(shown) - len(shown.lstrip())
    end = len(shown.rstrip())
    if start >= end:
        return []
    if parse_mode is None and end - start <= first_limit:
        return [text.strip()]
    if len(shown) <= first_limit:  # as written, blank ends and all: Telegram trims them
        return [text]
    pieces = []
    for a, b in _cuts(formatted, start, end, first_limit, limit):
        piece = clip(formatted, a, b)
        if piece.text.strip():
            pieces.append(render(piece, parse_mode))
    return pieces


def render(formatted: Formatted, parse_mode: ParseMode | None) -> str:
    """`formatted` written as markup that Telegram reads back as the same text and entities."""
    if parse_mode == "HTML":
        return write_html(formatted)
    if parse_mode == "MarkdownV2":
        return write_markdown(formatted)
    return formatted.text


# --- Splitting ---------------------------------------------------------------------------


def _cuts(
    formatted: Formatted, start: int, end: int, first_limit: int, limit: int
) -> list[tuple[int, int]]:
    """The (start, end) of each piece in the plain text."""
    text = formatted.text
    graphemes = [match.end() for match in _GRAPHEME.finditer(text)]
    atomic = [span for span in formatted.spans if span.kind in _ATOMIC]
    safe = [p for p in graphemes if not any(s.start < p < s.end for s in atomic)]
    cuts, budget = [], first_limit
    while start < end:
        cut = end if end - start <= budget else _cut(text, start, budget, safe, graphemes)
        cuts.append((start, cut))
        start, budget = cut, limit
    return cuts


def _cut(text: str, start: int, budget: int, safe: list[int], graphemes: list[int]) -> int:
    """Where the piece from `start` ends: the best boundary within `budget`.

    Failing a boundary, the last place between graphemes that cuts no custom emoji; failing
    that, between graphemes; failing that (one grapheme longer than the budget), anywhere.
    """
    limit = start + budget
    best = _best_boundary(text, start, limit, safe)
    if best is not None:
        return best
    for places in (safe, graphemes):
        index = bisect.bisect_right(places, limit) - 1
        if index >= 0 and places[index] > start:
            return places[index]
    return limit


def _best_boundary(text: str, start: int, limit: int, safe: list[int]) -> int | None:
    """A paragraph, else a line, else a word boundary in the second half of the window.

    A boundary is the end of a run of whitespace that text follows (the whitespace stays
    with the earlier piece). Failing any in the second half, the last boundary anywhere.
    """
    best: dict[int, int] = {}  # newlines in the run (2 or more: a paragraph) -> last boundary
    last = None
    low = bisect.bisect_right(safe, start)
    high = bisect.bisect_right(safe, limit)
    for place in safe[low:high]:
        if not text[place - 1].isspace() or place >= len(text) or text[place].isspace():
            continue
        run = len(text[start:place]) - len(text[start:place].rstrip())
        newlines = text[place - run : place].count("\n")
        if (place - start) * 2 >= limit - start:
            best[min(newlines, 2)] = place
        last = place
    return next((best[level] for level in (2, 1, 0) if level in best), last)
