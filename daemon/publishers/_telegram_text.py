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
"""

from __future__ import annotations

import bisect
import html
from dataclasses import dataclass, replace
from typing import Literal

import regex

ParseMode = Literal["HTML", "MarkdownV2"]

CAPTION_LIMIT = 1024  # a photo's or document's caption
MESSAGE_LIMIT = 4096  # a text message

_ATOMIC = frozenset({"emoji", "date"})  # a custom emoji, a tg-time: never cut inside
_GRAPHEME = regex.compile(r"\X")


@dataclass(frozen=True)
class Span:
    """An entity over `text[start:end]` of the plain text; `order` is the order it opened in.

    `value` is a link's URL, a pre block's language, a custom emoji's id (or, in MarkdownV2,
    its `tg://` URL), a tg-time's unix time, "1" for an expandable block quote; `extra` is a
    tg-time's format.
    """

    start: int
    end: int
    kind: str
    value: str = ""
    extra: str = ""
    order: int = 0


@dataclass(frozen=True)
class Formatted:
    """A caption as Telegram reads it: its plain text and the entities over it."""

    text: str
    spans: tuple[Span, ...] = ()


class MarkupError(ValueError):
    """The caption's markup is not something Telegram would accept."""


def text_length(text: str) -> int:
    """Length as Telegram counts it: Unicode code points."""
    return len(text)


def visible_length(text: str, parse_mode: ParseMode | None) -> int:
    """How long `text` is once Telegram has parsed its markup."""
    return len(parse(text, parse_mode).text)


def parse(text: str, parse_mode: ParseMode | None) -> Formatted:
    """The plain text and entities Telegram reads from `text`; raises MarkupError."""
    if parse_mode == "HTML":
        return _HtmlReader(text).read()
    if parse_mode == "MarkdownV2":
        return _MarkdownReader(text).read()
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
        piece = _clip(formatted, a, b)
        if piece.text.strip():
            pieces.append(render(piece, parse_mode))
    return pieces


def render(formatted: Formatted, parse_mode: ParseMode | None) -> str:
    """`formatted` written as markup that Telegram reads back as the same text and entities."""
    if parse_mode == "HTML":
        return _html_markup(formatted)
    if parse_mode == "MarkdownV2":
        return _markdown_markup(formatted)
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


def _clip(formatted: Formatted, a: int, b: int) -> Formatted:
    """The part of `formatted` in `text[a:b]`, with its entities clipped to it."""
    spans = tuple(
        replace(span, start=max(span.start, a) - a, end=min(span.end, b) - a)
        for span in formatted.spans
        if max(span.start, a) < min(span.end, b)
    )
    return Formatted(formatted.text[a:b], spans)


@dataclass
class _Node:
    span: Span | None
    start: int
    end: int
    children: list[_Node]


def _tree(formatted: Formatted, quotes_outside: bool = False) -> _Node:
    """The entities as a tree: each inside the one it nests in (they never cross)."""
    root = _Node(None, 0, len(formatted.text), [])
    stack = [root]

    def key(span: Span) -> tuple[int, int, int, int]:
        inner = 0 if quotes_outside and span.kind == "quote" else 1
        return (span.start, -span.end, inner, span.order)

    for span in sorted(formatted.spans, key=key):
        while stack[-1] is not root and span.end > stack[-1].end:
            stack.pop()
        node = _Node(span, span.start, span.end, [])
        stack[-1].children.append(node)
        stack.append(node)
    return root


def _parts(node: _Node) -> list[_Node | tuple[int, int]]:
    """A node's children with the plain text between them, in order."""
    parts: list[_Node | tuple[int, int]] = []
    position = node.start
    for child in node.children:
        if child.start > position:
            parts.append((position, child.start))
        parts.append(child)
        position = child.end
    if node.end > position:
        parts.append((position, node.end))
    return parts


# --- HTML: reading, as TDLib's parse_html does ---------------------------------------------

_HTML_TAGS = frozenset(
    [
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "tg-time",
        "span",
        "pre",
        "code",
        "blockquote",
    ]
)
_HTML_KINDS = {"i": "italic", "em": "italic", "b": "bold", "strong": "bold", "s": "strike"}
_HTML_KINDS |= {"strike": "strike", "del": "strike", "u": "underline", "ins": "underline"}
_HTML_KINDS |= {"tg-spoiler": "spoiler", "span": "spoiler", "blockquote": "quote"}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_DIGITS = frozenset("0123456789")
_HEX = _DIGITS | frozenset("abcdefABCDEF")
_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NAME_TOKEN = _ALPHA | _DIGITS | frozenset(".-")
_SPACE = frozenset(" \t\r\n\0\v")  # TDLib's is_space: the end of the text counts as one


def _char(text: str, index: int) -> str:
    """The character at `index`, or NUL past the end (as TDLib reads a C string)."""
    return text[index] if index < len(text) else "\0"


def _lower(text: str) -> str:
    """ASCII letters in lower case, as TDLib's to_lower does; other characters as they are."""
    return "".join(character.lower() if character.isascii() else character for character in text)


def _html_entity(text: str, position: int) -> tuple[str, int] | None:
    """The character a `&...` reference at `position` stands for, and where it ends."""
    end = position + 1
    if _char(text, end) == "#":
        end += 1
        digits, base = (_HEX, 16) if _char(text, end) == "x" else (_DIGITS, 10)
        end += base == 16
        first = end
        while _char(text, end) in digits:
            end += 1
        code = int(text[first:end], base) if end > first else 0
        if code == 0 or code >= 0x10FFFF or end - position >= 10:
            return None
        if 0xD800 <= code <= 0xDFFF:
            raise MarkupError("Text contains invalid Unicode characters")
        character = chr(code)
    else:
        while _char(text, end) in _ALPHA:
            end += 1
        named = _NAMED.get(text[position + 1 : end])
        if named is None:
            return None
        character = named
    return character, end + (_char(text, end) == ";")


@dataclass
class _HtmlTag:
    name: str
    start: int  # where its content starts in the plain text
    order: int
    argument: str = ""
    unix: str = ""


class _HtmlReader:
    """Reads Telegram HTML left to right, exactly as TDLib's parse_html does."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.shown: list[str] = []
        self.open: list[_HtmlTag] = []
        self.spans: list[Span] = []
        self.opened = 0

    def read(self) -> Formatted:
        text = self.text
        while self.at < len(text):
            character = text[self.at]
            entity = _html_entity(text, self.at) if character == "&" else None
            if entity is not None:
                self.shown.append(entity[0])
                self.at = entity[1]
            elif character != "<":
                self.shown.append(character)
                self.at += 1
            elif _char(text, self.at + 1) == "/":
                self._end_tag()
            else:
                self._start_tag()
        if self.open:
            raise MarkupError(
                f'Can\'t find end tag corresponding to start tag "{self.open[-1].name}"'
            )
        return Formatted("".join(self.shown), tuple(self.spans))

    def _skip_spaces(self, at: int) -> int:
        while _char(self.text, at) != "\0" and _char(self.text, at) in _SPACE:
            at += 1
        return at

    def _start_tag(self) -> None:
        text, at = self.text, self.at + 1
        while _char(text, at) not in _SPACE and text[at] != ">":
            at += 1
        if _char(text, at) == "\0":
            raise MarkupError("Unclosed start tag")
        tag = _HtmlTag(_lower(text[self.at + 1 : at]), len(self.shown), self.opened)
        if tag.name not in _HTML_TAGS:
            raise MarkupError(f'Unsupported start tag "{tag.name}"')
        while text[at] != ">":
            at = self._attribute(tag, at)
        if tag.name == "span" and tag.argument != "spoiler":
            raise MarkupError('Tag "span" must have class "tg-spoiler"')
        self.open.append(tag)
        self.opened += 1
        self.at = at + 1

    def _attribute(self, tag: _HtmlTag, at: int) -> int:
        """Reads one attribute of `tag` from `at`; where the next one (or `>`) starts."""
        text = self.text
        at = self._skip_spaces(at)
        if _char(text, at) == ">":
            return at
        first = at
        while _char(text, at) not in _SPACE and text[at] not in "=>/\"'":
            at += 1
        name = text[first:at]
        if not name:
            raise MarkupError(f'Empty attribute name in the tag "{tag.name}"')
        at = self._skip_spaces(at)
        if _char(text, at) != "=":
            if _char(text, at) == "\0":
                raise MarkupError(f'Unclosed start tag "{tag.name}"')
            if tag.name == "blockquote" and name == "expandable":
                tag.argument = "1"
            return at
        at = self._skip_spaces(at + 1)
        if _char(text, at) == "\0":
            raise MarkupError(f'Unclosed start tag "{tag.name}"')
        value, at = self._value(at)
        if _char(text, at) == "\0":
            raise MarkupError("Unclosed start tag")
        _set_argument(tag, name, value)
        return at

    def _value(self, at: int) -> tuple[str, int]:
        """An attribute's value from `at` (a quoted string or a name token), and its end."""
        text = self.text
        if text[at] not in "'\"":
            first = at
            while _char(text, at) in _NAME_TOKEN:
                at += 1
            if _char(text, at) not in _SPACE and text[at] != ">":
                raise MarkupError("Unexpected end of name token")
            return _lower(text[first:at]), at
        quote, value = text[at], []
        at += 1
        while _char(text, at) not in (quote, "\0"):
            entity = _html_entity(text, at) if text[at] == "&" else None
            if entity is not None:
                value.append(entity[0])
                at = entity[1]
            else:
                value.append(text[at])
                at += 1
        return "".join(value), at + (_char(text, at) == quote)

    def _end_tag(self) -> None:
        text, at = self.text, self.at + 2
        if not self.open:
            raise MarkupError("Unexpected end tag")
        while _char(text, at) not in _SPACE and text[at] != ">":
            at += 1
        name = _lower(text[self.at + 2 : at])
        at = self._skip_spaces(at)
        if _char(text, at) != ">":
            raise MarkupError("Unclosed end tag")
        tag = self.open.pop()
        if name and name != tag.name:
            raise MarkupError(f'Unmatched end tag, expected "</{tag.name}>", found "</{name}>"')
        self.at = at + 1
        if len(self.shown) > tag.start:
            self._close(tag)

    def _close(self, tag: _HtmlTag) -> None:
        start, end = tag.start, len(self.shown)
        span = Span(start, end, _HTML_KINDS.get(tag.name, tag.name), tag.argument, order=tag.order)
        if tag.name == "a":
            span = replace(span, kind="link", value=tag.argument or "".join(self.shown[start:]))
        elif tag.name == "tg-emoji":
            if not _int_ok(tag.argument, 63) or int(tag.argument) == 0:
                raise MarkupError("Invalid custom emoji identifier specified")
            span = replace(span, kind="emoji")
        elif tag.name == "tg-time":
            if not _date_format_ok(tag.argument):
                raise MarkupError("Invalid date format used")
            if _leading_int(tag.unix) <= 0:
                return  # no time, no entity: Telegram shows the text alone
            span = replace(span, kind="date", value=tag.unix, extra=tag.argument)
        elif tag.name in ("pre", "code"):
            merged = self._pre_code(tag, start, end)
            if merged is not None:
                self.spans[-1] = merged
                return
            span = replace(span, value="" if tag.name == "pre" else tag.argument)
        self.spans.append(span)

    def _pre_code(self, tag: _HtmlTag, start: int, end: int) -> Span | None:
        """`<pre><code class="language-…">` over the same text: one pre block with a language."""
        last = self.spans[-1] if self.spans else None
        if last is None or (last.start, last.end) != (start, end):
            return None
        if tag.name == "pre" and last.kind == "code" and last.value:
            return replace(last, kind="pre", order=tag.order)
        if tag.name == "code" and last.kind == "pre" and not last.value and tag.argument:
            return replace(last, value=tag.argument)
        return None


def _set_argument(tag: _HtmlTag, name: str, value: str) -> None:
    """What TDLib keeps of an attribute: the one argument each tag has."""
    if tag.name == "a" and name == "href":
        tag.argument = value
    elif tag.name == "code" and name == "class" and value.startswith("language-"):
        tag.argument = value[len("language-") :]
    elif tag.name == "span" and name == "class" and value.startswith("tg-"):
        tag.argument = value[len("tg-") :]
    elif tag.name == "tg-emoji" and name == "emoji-id":
        tag.argument = value
    elif tag.name == "blockquote" and name == "expandable":
        tag.argument = "1"
    elif tag.name == "tg-time" and name == "unix":
        tag.unix = value
    elif tag.name == "tg-time" and name == "format":
        tag.argument = value


def _int_ok(text: str, bits: int) -> bool:
    """Whether `text` is an integer written as TDLib's to_integer_safe wants it, and fits."""
    return text == str(_leading_int(text)) and -(2**bits) <= int(text) < 2**bits


def _leading_int(text: str) -> int:
    """The integer `text` starts with, as TDLib's lenient to_integer reads it (0 if none)."""
    match = regex.match(r"-?[0-9]*", text)
    digits = match.group(0) if match else ""
    return int(digits) if digits.lstrip("-") else 0


def _date_format_ok(date_format: str) -> bool:
    return date_format in ("r", "R") or all(c in "tTdDwW" for c in date_format)


def _tg_query(url: str, host: str) -> str | None:
    """The query of a `tg://host?query` URL, as TDLib's check_tg_url_host reads it."""
    if _lower(url[:3]) != "tg:":
        return None
    rest = url[3:].removeprefix("//")
    if _lower(rest[: len(host)]) != host or rest[len(host) : len(host) + 1] not in (
        "",
        "/",
        "?",
        "#",
    ):
        return None
    rest = rest[len(host) :].removeprefix("/")
    return rest[1:].partition("#")[0] if rest.startswith("?") else None


def _tg_url_ok(url: str) -> bool:
    """Whether `![…](url)` names a custom emoji or a time that TDLib accepts."""
    emoji = _tg_query(url, "emoji")
    if emoji is not None:
        for key, _, value in (parameter.partition("=") for parameter in emoji.split("&")):
            if key == "id":
                return _int_ok(value, 63) and int(value) != 0
        return False
    query = _tg_query(url, "time")
    if query is None:
        return False
    unix, date_format = 0, ""
    for key, _, value in (parameter.partition("=") for parameter in query.split("&")):
        if key == "unix":
            if not _int_ok(value, 31) or int(value) <= 0:
                return False
            unix = int(value)
        elif key == "format":
            date_format = value
    return unix != 0 and _date_format_ok(date_format)


# --- HTML: writing -------------------------------------------------------------------------

_HTML_SIMPLE = {"bold": "b", "italic": "i", "underline": "u", "strike": "s"}
_HTML_SIMPLE |= {"spoiler": "tg-spoiler", "code": "code"}


def _html_markup(formatted: Formatted) -> str:
    return _html_node(_tree(formatted), formatted.text)


def _html_node(node: _Node, text: str) -> str:
    inside = "".join(
        _html_node(part, text)
        if isinstance(part, _Node)
        else html.escape(text[slice(*part)], False)
        for part in _parts(node)
    )
    if node.span is None:
        return inside
    opener, closer = _html_tags(node.span)
    return opener + inside + closer


def _html_tags(span: Span) -> tuple[str, str]:
    simple = _HTML_SIMPLE.get(span.kind)
    if simple is not None:
        return f"<{simple}>", f"</{simple}>"
    value = html.escape(span.value)
    if span.kind == "pre" and span.value:
        return f'<pre><code class="language-{value}">', "</code></pre>"
    if span.kind == "pre":
        return "<pre>", "</pre>"
    if span.kind == "link":
        return f'<a href="{value}">', "</a>"
    if span.kind == "emoji":
        return f'<tg-emoji emoji-id="{value}">', "</tg-emoji>"
    if span.kind == "date":
        extra = f' format="{html.escape(span.extra)}"' if span.extra else ""
        return f'<tg-time unix="{value}"{extra}>', "</tg-time>"
    expandable = " expandable" if span.value else ""
    return f"<blockquote{expandable}>", "</blockquote>"


# --- MarkdownV2: reading, as TDLib's parse_markdown_v2 does --------------------------------

_RESERVED = frozenset("_*[]()~`>#+-=|{}.!\n")
_CODE_KINDS = frozenset({"code", "pre"})


@dataclass
class _MarkdownEntity:
    kind: str
    start: int  # where its content starts in the plain text
    at: int  # where its markup starts in the markup
    order: int
    value: str = ""


class _MarkdownReader:
    """Reads MarkdownV2 left to right, exactly as TDLib's parse_markdown_v2 does."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.shown: list[str] = []
        self.open: list[_MarkdownEntity] = []
        self.spans: list[Span] = []
        self.opened = 0
        self.in_quote = False
        self.line_start = True  # a `>` here starts a block quote

    def read(self) -> Formatted:
        while self.at < len(self.text):
            self._step()
            self.at += 1
        self._finish_quote()
        if self.open:
            raise MarkupError(f"Can't find end of {self.open[-1].kind} entity")
        return Formatted("".join(self.shown), tuple(self.spans))

    def _step(self) -> None:
        character, after = self.text[self.at], _char(self.text, self.at + 1)
        if character == "\\" and 0 < ord(after) <= 126:
            self.at += 1
            self.shown.append(after)
            if after != "\r":
                self.line_start = after == "\n"
            return
        in_code = bool(self.open) and self.open[-1].kind in _CODE_KINDS
        if character not in ("`" if in_code else _RESERVED):
            self.shown.append(character)
            if character != "\r":
                self.line_start = False
        elif self._ends_entity(character, after):
            self._close(character)
        else:
            self._begin(character, after)

    def _ends_entity(self, character: str, after: str) -> bool:
        if not self.open:
            return False
        if self.in_quote and character == "\n" and after != ">":
            return True
        kind = self.open[-1].kind
        if kind in ("pre", "underline", "spoiler"):
            pair = {"pre": "`", "underline": "_", "spoiler": "|"}[kind]
            third = _char(self.text, self.at + 2) == "`" if kind == "pre" else True
            return character == pair and after == pair and third
        if kind == "italic":
            return character == "_" and after != "_"
        closers = {"bold": "*", "code": "`", "link": "]", "emoji": "]", "strike": "~"}
        return closers.get(kind) == character

    def _begin(self, character: str, after: str) -> None:
        at = self.at
        kind = {"*": "bold", "~": "strike", "[": "link", "`": "code"}.get(character)
        value = ""
        if character == "_":
            kind = "underline" if after == "_" else "italic"
            self.at += after == "_"
        elif (character, after) in (("|", "|"), ("!", "[")):
            kind = "spoiler" if character == "|" else "emoji"
            self.at += 1
        elif character == "`" and after == "`" and _char(self.text, at + 2) == "`":
            kind, value = "pre", self._pre_language()
        elif character == "\n":
            self.shown.append("\n")
            self.line_start = True
            return
        elif character == ">" and self.line_start:
            if self.in_quote:
                return  # the `>` that continues a block quote on its next line
            kind, self.in_quote = "quote", True
        if kind is None:
            raise MarkupError(f"Character '{character}' is reserved and must be escaped")
        self.open.append(_MarkdownEntity(kind, len(self.shown), at, self.opened, value))
        self.opened += 1

    def _pre_language(self) -> str:
        """Reads "```language" and the one line break after it; the language, if any."""
        text, at = self.text, self.at + 3
        end = at
        while _char(text, end) not in _SPACE and text[end] != "`":
            end += 1
        language = ""
        if end != at and end < len(text) and text[end] != "`":
            language, at = text[at:end], end
        if _char(text, at) in "\r\n" and at < len(text):
            pair = _char(text, at + 1) in "\r\n" and text[at] != _char(text, at + 1)
            at += 2 if pair else 1
        self.at = at - 1
        return language

    def _close(self, character: str) -> None:
        entity = self.open[-1]
        kind = entity.kind
        if character == "\n" and kind != "quote":
            kind = self._expandable_end(entity)
            entity = self.open[-1]
        start, value = entity.start, entity.value
        if kind in ("underline", "spoiler"):
            self.at += 1
        elif kind == "pre":
            self.at += 2
        elif kind == "link":
            has_url = _char(self.text, self.at + 1) == "("
            value = self._url() if has_url else "".join(self.shown[start:])
        elif kind == "emoji":
            if _char(self.text, self.at + 1) != "(":
                raise MarkupError("The entity must contain a tg://emoji or tg://time URL")
            value = self._url()
            if not _tg_url_ok(value):
                raise MarkupError("Invalid tg://emoji or tg://time URL specified")
        self.open.pop()
        if kind in ("quote", "expandable"):
            self.in_quote, self.line_start = False, True
            self.shown.append("\n")  # the line break that ends a block quote is part of it
        elif len(self.shown) == start:
            return  # an empty entity: Telegram drops it
        self._add(Span(start, len(self.shown), kind, value, order=entity.order))

    def _expandable_end(self, entity: _MarkdownEntity) -> str:
        """A quote's last line ending in `||`: the quote is expandable."""
        shown = self.shown
        right_after = entity.at == self.at - 2 or (
            entity.at == self.at - 3 and bool(shown) and shown[-1] == "\r"
        )
        if entity.kind != "spoiler" or not right_after:
            raise MarkupError(f"Can't find end of {entity.kind} entity")
        self.open.pop()
        if self.open[-1].kind != "quote":
            raise MarkupError(f"Can't find end of {self.open[-1].kind} entity")
        return "expandable"

    def _url(self) -> str:
        """Reads "(url)" after a link's text; its URL, escapes undone."""
        text = self.text
        self.at += 2
        url: list[str] = []
        while self.at < len(text) and text[self.at] != ")":
            after = _char(text, self.at + 1)
            if text[self.at] == "\\" and 0 < ord(after) <= 126:
                url.append(after)
                self.at += 2
            else:
                url.append(text[self.at])
                self.at += 1
        if _char(text, self.at) != ")":
            raise MarkupError("Can't find end of a URL")
        return "".join(url)

    def _finish_quote(self) -> None:
        """A block quote still open at the end of the text ends there."""
        if not self.in_quote:
            return
        kind = "quote"
        top = self.open[-1]
        if top.kind == "spoiler" and top.at == len(self.text) - 2:
            self.open.pop()
            kind = "expandable"
        top = self.open[-1]
        if top.kind == "quote":
            self.in_quote = False
            self.open.pop()
            if len(self.shown) > top.start:
                self._add(Span(top.start, len(self.shown), kind, order=top.order))

    def _add(self, span: Span) -> None:
        if span.kind == "expandable":
            span = replace(span, kind="quote", value="1")
        self.spans.append(span)


# --- MarkdownV2: writing -------------------------------------------------------------------

_MARKDOWN_PAIRS = {"bold": ("*", "*"), "italic": ("_", "_"), "underline": ("__", "__")}
_MARKDOWN_PAIRS |= {"strike": ("~", "~"), "spoiler": ("||", "||"), "code": ("`", "`")}


@dataclass(frozen=True)
class _Bit:
    """A piece of MarkdownV2 output: text, or markup (`role` says which markup, if it matters)."""

    raw: str
    markup: bool = False
    role: str = ""  # "quote": the `>` that opens a block quote; "end": the line break ending one


def _markdown_markup(formatted: Formatted) -> str:
    formatted = _quotes_outermost(formatted)
    writer = _MarkdownWriter(formatted.text)
    bits = writer.node(_tree(formatted, quotes_outside=True), code=False, quote=False)
    return _join(bits)


def _quotes_outermost(formatted: Formatted) -> Formatted:
    """Cuts an entity around each block quote it holds, so that quotes nest in nothing.

    A MarkdownV2 quote ends at a line break or at the end of the text, so nothing may close
    after it; cutting the entity in two keeps the characters it covers.
    """
    quotes = [span for span in formatted.spans if span.kind == "quote"]
    spans: list[Span] = []
    for span in formatted.spans:
        parts = [span]
        for quote in quotes if span.kind != "quote" else []:
            parts = [piece for part in parts for piece in _around(part, quote)]
        spans.extend(parts)
    return Formatted(formatted.text, tuple(spans))


def _around(span: Span, quote: Span) -> list[Span]:
    if not (span.start <= quote.start and quote.end <= span.end):
        return [span]
    parts = [(span.start, quote.start), (quote.start, quote.end), (quote.end, span.end)]
    return [replace(span, start=a, end=b) for a, b in parts if a < b]


def _join(bits: list[_Bit]) -> str:
    """The bits as one string, with an empty link `[]` where two would run together.

    `_` then `__` would read as underline then italic, and a quote's closing line break
    then another quote's `>` would read as one quote going on.
    """
    out: list[str] = []
    previous: _Bit | None = None
    for bit in bits:
        if previous is not None and bit.markup and previous.markup:
            runs_on = previous.raw.endswith("_") and bit.raw.startswith("_")
            if runs_on or (previous.role == "end" and bit.role == "quote"):
                out.append("[]")
        out.append(bit.raw)
        previous = bit
    return "".join(out)


class _MarkdownWriter:
    """Writes a tree of entities as MarkdownV2."""

    def __init__(self, text: str) -> None:
        self.text = text

    def node(self, node: _Node, code: bool, quote: bool) -> list[_Bit]:
        span = node.span
        if span is not None and span.kind == "quote":
            return self._quote(node)
        opener, closer = _markdown_delimiters(span)
        code = code or (span is not None and span.kind in _CODE_KINDS)
        bits = [_Bit(opener, True)] if opener else []
        bits += self._inside(node, code, quote)
        return bits + ([_Bit(closer, True)] if closer else [])

    def _inside(self, node: _Node, code: bool, quote: bool) -> list[_Bit]:
        bits: list[_Bit] = []
        for part in _parts(node):
            if isinstance(part, _Node):
                bits += self.node(part, code, quote)
            else:
                bits.append(_Bit(self._text(*part, code, quote)))
        return bits

    def _quote(self, node: _Node) -> list[_Bit]:
        """`>` on every line; the line break that ends it comes after its inner closers."""
        assert node.span is not None
        expandable = [_Bit("||", True)] if node.span.value else []
        ends_line = self.text[node.end - 1] == "\n"
        if node.end == len(self.text) or not ends_line:  # the quote ends with the text
            return [_Bit(">", True, "quote"), *self._inside(node, False, True), *expandable]
        node = _Node(node.span, node.start, node.end - 1, node.children)
        _clip_children(node)
        bits = [_Bit(">", True, "quote"), *self._inside(node, False, True), *expandable]
        return [*bits, _Bit("\n", True, "end")]

    def _text(self, start: int, end: int, code: bool, quote: bool) -> str:
        """Plain text, escaped; inside a quote each line break is followed by the next `>`."""
        out = []
        for at in range(start, end):
            character = self.text[at]
            if code:
                out.append("\\" + character if character in "`\\\r" else character)
            elif character == "\n" and quote:
                # at the very end, an escaped line break: nothing may close a quote early
                out.append("\\\n" if at == len(self.text) - 1 else "\n>")
            elif (character in _RESERVED and character != "\n") or character == "\\":
                out.append("\\" + character)
            else:
                out.append(character)
        return "".join(out)


def _clip_children(node: _Node) -> None:
    """Children end where their parent now does (a quote's closing line break is its own)."""
    kept = []
    for child in node.children:
        child.end = min(child.end, node.end)
        if child.start < child.end:
            _clip_children(child)
            kept.append(child)
    node.children = kept


def _markdown_delimiters(span: Span | None) -> tuple[str, str]:
    if span is None:
        return "", ""
    pair = _MARKDOWN_PAIRS.get(span.kind)
    if pair is not None:
        return pair
    url = span.value.replace("\\", "\\\\").replace(")", "\\)")
    if span.kind == "pre":
        return f"```{span.value}\n", "```"
    if span.kind == "link":
        return "[", f"]({url})"
    return "![", f"]({url})"  # a custom emoji or a tg-time, by its tg:// URL
