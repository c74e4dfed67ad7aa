"""Telegram MarkdownV2: read as TDLib's `parse_markdown_v2` reads it, and written back.

`read_markdown` gives the plain text and entities Telegram would see, raising `MarkupError`
where TDLib would refuse the caption (with TDLib's own words); `write_markdown` writes a
`Formatted` as MarkdownV2 that Telegram reads back as the same text and entities.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from daemon.publishers.telegram.formatted import (
    SPACE,
    Formatted,
    MarkupError,
    Node,
    Span,
    ascii_lower,
    char_at,
    date_format_ok,
    entity_tree,
    int_ok,
    node_parts,
)


def read_markdown(text: str) -> Formatted:
    """The plain text and entities Telegram reads from MarkdownV2 `text`; raises MarkupError."""
    return _MarkdownReader(text).read()


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
        character, after = self.text[self.at], char_at(self.text, self.at + 1)
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
            third = char_at(self.text, self.at + 2) == "`" if kind == "pre" else True
            return character == pair and after == pair and third
        if kind == "italic":
            return character == "_" and after != "_"
        closers = {"bold": "*", "code": "`", "link": "]", "emoji": "]", "strike": "~"}
        return closers.get(kind) == character

    def _begin(self, character: str, after: str) -> None:
        if character == "\n":
            self.shown.append("\n")
            self.line_start = True
            return
        if character == ">" and self.line_start and self.in_quote:
            return  # the `>` that continues a block quote on its next line
        at = self.at
        kind, value = self._opening_markup(character, after)
        self.open.append(_MarkdownEntity(kind, len(self.shown), at, self.opened, value))
        self.opened += 1

    def _opening_markup(self, character: str, after: str) -> tuple[str, str]:
        """Reads the markup that opens an entity; its kind, and its value (a pre's language)."""
        kind = {"*": "bold", "~": "strike", "[": "link", "`": "code"}.get(character)
        value = ""
        if character == "_":
            kind = "underline" if after == "_" else "italic"
            self.at += after == "_"
        elif (character, after) in (("|", "|"), ("!", "[")):
            kind = "spoiler" if character == "|" else "emoji"
            self.at += 1
        elif character == "`" and after == "`" and char_at(self.text, self.at + 2) == "`":
            kind, value = "pre", self._pre_language()
        elif character == ">" and self.line_start:
            kind, self.in_quote = "quote", True
        if kind is None:
            raise MarkupError(f"Character '{character}' is reserved and must be escaped")
        return kind, value

    def _pre_language(self) -> str:
        """Reads "```language" and the one line break after it; the language, if any."""
        text, at = self.text, self.at + 3
        end = at
        while char_at(text, end) not in SPACE and text[end] != "`":
            end += 1
        language = ""
        if end != at and end < len(text) and text[end] != "`":
            language, at = text[at:end], end
        if char_at(text, at) in "\r\n" and at < len(text):
            pair = char_at(text, at + 1) in "\r\n" and text[at] != char_at(text, at + 1)
            at += 2 if pair else 1
        self.at = at - 1
        return language

    def _close(self, character: str) -> None:
        entity = self.open[-1]
        kind = entity.kind
        if character == "\n" and kind != "quote":
            kind = self._expandable_end(entity)
            entity = self.open[-1]
        start, value = entity.start, self._closing_markup(kind, entity)
        self.open.pop()
        if kind in ("quote", "expandable"):
            self.in_quote, self.line_start = False, True
            self.shown.append("\n")  # the line break that ends a block quote is part of it
        elif len(self.shown) == start:
            return  # an empty entity: Telegram drops it
        self._add(Span(start, len(self.shown), kind, value, order=entity.order))

    def _closing_markup(self, kind: str, entity: _MarkdownEntity) -> str:
        """Reads the rest of the markup that closes `entity` (as `kind`); the entity's value."""
        if kind in ("underline", "spoiler"):
            self.at += 1
        elif kind == "pre":
            self.at += 2
        elif kind == "link":
            has_url = char_at(self.text, self.at + 1) == "("
            return self._url() if has_url else "".join(self.shown[entity.start :])
        elif kind == "emoji":
            return self._tg_url()
        return entity.value

    def _tg_url(self) -> str:
        """Reads "(url)" after a custom emoji's or a tg-time's text; its tg:// URL, checked."""
        if char_at(self.text, self.at + 1) != "(":
            raise MarkupError("The entity must contain a tg://emoji or tg://time URL")
        url = self._url()
        if not _tg_url_ok(url):
            raise MarkupError("Invalid tg://emoji or tg://time URL specified")
        return url

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
            after = char_at(text, self.at + 1)
            if text[self.at] == "\\" and 0 < ord(after) <= 126:
                url.append(after)
                self.at += 2
            else:
                url.append(text[self.at])
                self.at += 1
        if char_at(text, self.at) != ")":
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


def _tg_query(url: str, host: str) -> str | None:
    """The query of a `tg://host?query` URL, as TDLib's check_tg_url_host reads it."""
    if ascii_lower(url[:3]) != "tg:":
        return None
    rest = url[3:].removeprefix("//")
    if ascii_lower(rest[: len(host)]) != host or rest[len(host) : len(host) + 1] not in (
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
        return _emoji_query_ok(emoji)
    time = _tg_query(url, "time")
    return time is not None and _time_query_ok(time)


def _emoji_query_ok(query: str) -> bool:
    """The query of a `tg://emoji` URL: its first `id` is a custom emoji's id."""
    for key, _, value in (parameter.partition("=") for parameter in query.split("&")):
        if key == "id":
            return int_ok(value, 63) and int(value) != 0
    return False


def _time_query_ok(query: str) -> bool:
    """The query of a `tg://time` URL: a positive `unix` time, and a known `format` if any."""
    unix, date_format = 0, ""
    for key, _, value in (parameter.partition("=") for parameter in query.split("&")):
        if key == "unix":
            if not int_ok(value, 31) or int(value) <= 0:
                return False
            unix = int(value)
        elif key == "format":
            date_format = value
    return unix != 0 and date_format_ok(date_format)


# --- MarkdownV2: writing -------------------------------------------------------------------

_MARKDOWN_PAIRS = {"bold": ("*", "*"), "italic": ("_", "_"), "underline": ("__", "__")}
_MARKDOWN_PAIRS |= {"strike": ("~", "~"), "spoiler": ("||", "||"), "code": ("`", "`")}


@dataclass(frozen=True)
class _Bit:
    """A piece of MarkdownV2 output: text, or markup (`role` says which markup, if it matters)."""

    raw: str
    markup: bool = False
    role: str = ""  # "quote": the `>` that opens a block quote; "end": the line break ending one


def write_markdown(formatted: Formatted) -> str:
    """`formatted` as MarkdownV2 that Telegram reads back as the same text and entities."""
    formatted = _quotes_outermost(formatted)
    writer = _MarkdownWriter(formatted.text)
    bits = writer.node(entity_tree(formatted, quotes_outside=True), code=False, quote=False)
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

    def node(self, node: Node, code: bool, quote: bool) -> list[_Bit]:
        span = node.span
        if span is not None and span.kind == "quote":
            return self._quote(node)
        opener, closer = _markdown_delimiters(span)
        code = code or (span is not None and span.kind in _CODE_KINDS)
        bits = [_Bit(opener, True)] if opener else []
        bits += self._inside(node, code, quote)
        return bits + ([_Bit(closer, True)] if closer else [])

    def _inside(self, node: Node, code: bool, quote: bool) -> list[_Bit]:
        bits: list[_Bit] = []
        for part in node_parts(node):
            if isinstance(part, Node):
                bits += self.node(part, code, quote)
            else:
                bits.append(_Bit(self._text(*part, code, quote)))
        return bits

    def _quote(self, node: Node) -> list[_Bit]:
        """`>` on every line; the line break that ends it comes after its inner closers."""
        assert node.span is not None
        expandable = [_Bit("||", True)] if node.span.value else []
        ends_line = self.text[node.end - 1] == "\n"
        if node.end == len(self.text) or not ends_line:  # the quote ends with the text
            return [_Bit(">", True, "quote"), *self._inside(node, False, True), *expandable]
        node = Node(node.span, node.start, node.end - 1, node.children)
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


def _clip_children(node: Node) -> None:
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
