"""Telegram caption rules: how long a caption may be, and how a longer one is split.

Telegram counts a caption's length after entities parsing: `<b>hi</b>` is two characters,
`&amp;` is one. Lengths here are counted in UTF-16 code units, as Telegram counts entity
offsets, so an emoji counts as two: a piece that fits here fits there.

A caption is read into tokens: visible characters (a plain character, an HTML entity, a
MarkdownV2 escape) and markup (a tag or delimiter that opens or closes an entity). A split
falls between tokens, so it never breaks a tag or an entity; an entity that spans a split
is closed at the end of one piece and opened again at the start of the next.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

ParseMode = Literal["HTML", "MarkdownV2"]

CAPTION_LIMIT = 1024  # a photo's or document's caption
MESSAGE_LIMIT = 4096  # a text message


@dataclass(frozen=True)
class Token:
    """A visible character (`shown` is what it shows) or a piece of markup (`shown` is '')."""

    raw: str
    shown: str = ""
    opens: str | None = None  # the entity this markup opens
    closes: str | None = None  # the entity this markup closes
    closer: str = ""  # for markup that opens: what closes it, unless the text says otherwise


@dataclass(frozen=True)
class _Open:
    key: str
    opener: str
    closer: str


def text_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def visible_length(text: str, parse_mode: ParseMode | None) -> int:
    """How long `text` is once Telegram has parsed its markup."""
    return sum(text_length(token.shown) for token in tokenize(text, parse_mode))


def split_caption(
    text: str,
    parse_mode: ParseMode | None,
    first_limit: int = CAPTION_LIMIT,
    limit: int = MESSAGE_LIMIT,
) -> list[str]:
    """The caption as a first piece of at most `first_limit`, then pieces of at most `limit`.

    An empty (or all-whitespace) caption gives no pieces at all.
    """
    tokens = tokenize(text.strip(), parse_mode)
    pieces = list(_pieces(tokens, first_limit, limit))
    return [piece for piece, shown in pieces if shown.strip()]


def tokenize(text: str, parse_mode: ParseMode | None) -> list[Token]:
    if parse_mode == "HTML":
        return _html_tokens(text)
    if parse_mode == "MarkdownV2":
        return _markdown_tokens(text)
    return [Token(character, character) for character in text]


# --- Splitting ---------------------------------------------------------------------------


def _pieces(tokens: list[Token], first_limit: int, limit: int) -> Iterator[tuple[str, str]]:
    """(markup, shown text) of each piece; open entities are closed and reopened at a split."""
    closers = _closers(tokens)
    widths = [text_length(token.shown) for token in tokens]
    start, budget, stack = 0, first_limit, list[_Open]()
    while start < len(tokens):
        end = _cut(tokens, widths, start, budget)
        body = tokens[start:end]
        reopened = "".join(entity.opener for entity in stack)
        stack = _walk(stack, body, closers, start)
        closing = "".join(entity.closer for entity in reversed(stack))
        shown = "".join(token.shown for token in body)
        yield reopened + "".join(token.raw for token in body) + closing, shown
        start, budget = end, limit


def _closers(tokens: list[Token]) -> dict[int, str]:
    """For each opening token, the markup that closes it (a link's closer holds its URL)."""
    closers = {index: token.closer for index, token in enumerate(tokens) if token.opens}
    open_at: list[tuple[str, int]] = []
    for index, token in enumerate(tokens):
        if token.opens is not None:
            open_at.append((token.opens, index))
        elif token.closes is not None and any(key == token.closes for key, _ in open_at):
            key, opened = open_at.pop()
            while key != token.closes:
                key, opened = open_at.pop()
            closers[opened] = token.raw
    return closers


def _walk(
    stack: list[_Open], body: list[Token], closers: dict[int, str], offset: int
) -> list[_Open]:
    """The entities still open after `body`."""
    stack = list(stack)
    for index, token in enumerate(body, start=offset):
        if token.opens is not None:
            stack.append(_Open(token.opens, token.raw, closers[index]))
        elif token.closes is not None and any(entity.key == token.closes for entity in stack):
            while stack.pop().key != token.closes:
                pass
    return stack


def _cut(tokens: list[Token], widths: list[int], start: int, budget: int) -> int:
    """Where the piece starting at `start` ends: the best boundary within `budget`."""
    end, used = start, 0
    while end < len(tokens) and used + widths[end] <= budget:
        used += widths[end]
        end += 1
    if end == len(tokens):
        return end
    cut = _best_boundary(tokens, widths, start, end, budget)
    if cut is None:
        cut = max(end, start + 1)  # no boundary at all: a hard cut, between characters
    while cut < len(tokens) and tokens[cut].closes is not None:
        cut += 1  # markup that closes an entity stays with the text it closes
    return cut


def _best_boundary(
    tokens: list[Token], widths: list[int], start: int, end: int, budget: int
) -> int | None:
    """A paragraph, else a line, else a word boundary in the second half of the window.

    A boundary is the end of a run of whitespace that text follows (the whitespace stays
    with the earlier piece). Failing any in the second half, the last
    boundary anywhere in the window.
    """
    best: dict[int, int] = {}  # newlines in the run (2 or more: a paragraph) -> last boundary
    last = None
    offset, newlines, run_end = 0, 0, None
    for index in range(start, min(end + 1, len(tokens))):  # the token after the window too
        shown = tokens[index].shown
        if shown.isspace() and index < end:
            newlines, run_end = newlines + shown.count("\n"), index + 1
        elif shown and not shown.isspace() and run_end is not None:
            if offset * 2 >= budget:
                best[min(newlines, 2)] = run_end
            last, newlines, run_end = run_end, 0, None
        offset += widths[index]
    return next((best[level] for level in (2, 1, 0) if level in best), last)


# --- HTML ----------------------------------------------------------------------------------

_HTML_TOKEN = re.compile(
    r"<(?P<end>/?)(?P<name>[a-zA-Z][a-zA-Z0-9-]*)(?:\s[^<>]*)?>"
    r"|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|lt|gt|amp|quot);"
)


def _html_tokens(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    for match in _HTML_TOKEN.finditer(text):
        tokens.extend(Token(character, character) for character in text[position : match.start()])
        tokens.append(_html_token(match))
        position = match.end()
    tokens.extend(Token(character, character) for character in text[position:])
    return tokens


def _html_token(match: re.Match[str]) -> Token:
    raw = match.group(0)
    name = (match.group("name") or "").lower()
    if not name:
        return Token(raw, html.unescape(raw))  # an entity: one character once parsed
    if match.group("end"):
        return Token(raw, closes=name)
    return Token(raw, opens=name, closer=f"</{name}>")


# --- MarkdownV2 ---------------------------------------------------------------------------

_CODE_FENCE = re.compile(r"```[A-Za-z0-9_+-]*\n?|`")
_TOGGLES = ("||", "__", "*", "_", "~")
_LINK_END = re.compile(r"\]\((?:\\.|[^)\\])*\)")


def _markdown_tokens(text: str) -> list[Token]:
    return _MarkdownReader(text).tokens()


class _MarkdownReader:
    """Reads MarkdownV2 left to right, keeping track of the entities open so far."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.open: list[str] = []

    def tokens(self) -> list[Token]:
        tokens, position = [], 0
        while position < len(self.text):
            token = self._token(position)
            if token.opens is not None:
                self.open.append(token.opens)
            elif token.closes is not None:
                while self.open.pop() != token.closes:
                    pass
            tokens.append(token)
            position += len(token.raw)
        return tokens

    def _token(self, position: int) -> Token:
        """The token at `position`; inside code only escapes and the closing fence count."""
        text = self.text
        if text[position] == "\\" and position + 1 < len(text):
            return Token(text[position : position + 2], text[position + 1])
        code = self.open[-1] if self.open and self.open[-1] in ("pre", "code") else None
        if code is not None:
            fence = "```" if code == "pre" else "`"
            if text.startswith(fence, position):
                return Token(fence, closes=code)
            return Token(text[position], text[position])
        return self._markup(position) or Token(text[position], text[position])

    def _markup(self, position: int) -> Token | None:
        text = self.text
        fence = _CODE_FENCE.match(text, position)
        if fence is not None:
            key = "pre" if fence.group(0).startswith("```") else "code"
            return Token(fence.group(0), opens=key, closer=fence.group(0)[:3].rstrip("\n"))
        link_end = _LINK_END.match(text, position)
        if link_end is not None and "link" in self.open:
            return Token(link_end.group(0), closes="link")
        for opener in ("![", "["):
            if text.startswith(opener, position):
                return Token(opener, opens="link")
        for toggle in _TOGGLES:
            if text.startswith(toggle, position):
                if toggle in self.open:
                    return Token(toggle, closes=toggle)
                return Token(toggle, opens=toggle, closer=toggle)
        return None
