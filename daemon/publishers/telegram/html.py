"""Telegram HTML: read as TDLib's `parse_html` reads it, and written back.

`read_html` gives the plain text and entities Telegram would see, raising `MarkupError` where
TDLib would refuse the caption (with TDLib's own words); `write_html` writes a `Formatted`
as HTML that Telegram reads back as the same text and entities.
"""

from __future__ import annotations

import html
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
    leading_int,
    node_parts,
)


def read_html(text: str) -> Formatted:
    """The plain text and entities Telegram reads from HTML `text`; raises MarkupError."""
    return _HtmlReader(text).read()


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


def _html_entity(text: str, position: int) -> tuple[str, int] | None:
    """The character a `&...` reference at `position` stands for, and where it ends."""
    if char_at(text, position + 1) == "#":
        found = _numeric_entity(text, position)
    else:
        found = _named_entity(text, position)
    if found is None:
        return None
    character, end = found
    return character, end + (char_at(text, end) == ";")


def _numeric_entity(text: str, position: int) -> tuple[str, int] | None:
    """`&#123` or `&#x7b`: the character it stands for, and where its digits end."""
    end = position + 2
    digits, base = (_HEX, 16) if char_at(text, end) == "x" else (_DIGITS, 10)
    end += base == 16
    first = end
    while char_at(text, end) in digits:
        end += 1
    code = int(text[first:end], base) if end > first else 0
    if code == 0 or code >= 0x10FFFF or end - position >= 10:
        return None
    if 0xD800 <= code <= 0xDFFF:
        raise MarkupError("Text contains invalid Unicode characters")
    return chr(code), end


def _named_entity(text: str, position: int) -> tuple[str, int] | None:
    """`&amp` and the like: the character it stands for, and where its name ends."""
    end = position + 1
    while char_at(text, end) in _ALPHA:
        end += 1
    named = _NAMED.get(text[position + 1 : end])
    return None if named is None else (named, end)


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
            elif char_at(text, self.at + 1) == "/":
                self._end_tag()
            else:
                self._start_tag()
        if self.open:
            raise MarkupError(
                f'Can\'t find end tag corresponding to start tag "{self.open[-1].name}"'
            )
        return Formatted("".join(self.shown), tuple(self.spans))

    def _skip_spaces(self, at: int) -> int:
        while char_at(self.text, at) != "\0" and char_at(self.text, at) in SPACE:
            at += 1
        return at

    def _start_tag(self) -> None:
        text, at = self.text, self.at + 1
        while char_at(text, at) not in SPACE and text[at] != ">":
            at += 1
        if char_at(text, at) == "\0":
            raise MarkupError("Unclosed start tag")
        tag = _HtmlTag(ascii_lower(text[self.at + 1 : at]), len(self.shown), self.opened)
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
        at = self._skip_spaces(at)
        if char_at(self.text, at) == ">":
            return at
        name, at = self._attribute_name(tag, at)
        at = self._skip_spaces(at)
        if char_at(self.text, at) != "=":
            if char_at(self.text, at) == "\0":
                raise MarkupError(f'Unclosed start tag "{tag.name}"')
            if tag.name == "blockquote" and name == "expandable":
                tag.argument = "1"
            return at
        value, at = self._attribute_value(tag, at + 1)
        _set_argument(tag, name, value)
        return at

    def _attribute_name(self, tag: _HtmlTag, at: int) -> tuple[str, int]:
        """An attribute's name from `at`, and where it ends."""
        text, first = self.text, at
        while char_at(text, at) not in SPACE and text[at] not in "=>/\"'":
            at += 1
        if at == first:
            raise MarkupError(f'Empty attribute name in the tag "{tag.name}"')
        return text[first:at], at

    def _attribute_value(self, tag: _HtmlTag, at: int) -> tuple[str, int]:
        """The value after an attribute's `=` (spaces may come between), and where it ends."""
        at = self._skip_spaces(at)
        if char_at(self.text, at) == "\0":
            raise MarkupError(f'Unclosed start tag "{tag.name}"')
        value, at = self._value(at)
        if char_at(self.text, at) == "\0":
            raise MarkupError("Unclosed start tag")
        return value, at

    def _value(self, at: int) -> tuple[str, int]:
        """An attribute's value from `at` (a quoted string or a name token), and its end."""
        text = self.text
        if text[at] in "'\"":
            return self._quoted(at)
        first = at
        while char_at(text, at) in _NAME_TOKEN:
            at += 1
        if char_at(text, at) not in SPACE and text[at] != ">":
            raise MarkupError("Unexpected end of name token")
        return ascii_lower(text[first:at]), at

    def _quoted(self, at: int) -> tuple[str, int]:
        """A quoted value from its opening quote at `at`, references undone, and its end."""
        text = self.text
        quote, value = text[at], []
        at += 1
        while char_at(text, at) not in (quote, "\0"):
            entity = _html_entity(text, at) if text[at] == "&" else None
            if entity is not None:
                value.append(entity[0])
                at = entity[1]
            else:
                value.append(text[at])
                at += 1
        return "".join(value), at + (char_at(text, at) == quote)

    def _end_tag(self) -> None:
        text, at = self.text, self.at + 2
        if not self.open:
            raise MarkupError("Unexpected end tag")
        while char_at(text, at) not in SPACE and text[at] != ">":
            at += 1
        name = ascii_lower(text[self.at + 2 : at])
        at = self._skip_spaces(at)
        if char_at(text, at) != ">":
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
            if not int_ok(tag.argument, 63) or int(tag.argument) == 0:
                raise MarkupError("Invalid custom emoji identifier specified")
            span = replace(span, kind="emoji")
        elif tag.name == "tg-time":
            if not date_format_ok(tag.argument):
                raise MarkupError("Invalid date format used")
            if leading_int(tag.unix) <= 0:
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


# --- HTML: writing -------------------------------------------------------------------------

_HTML_SIMPLE = {"bold": "b", "italic": "i", "underline": "u", "strike": "s"}
_HTML_SIMPLE |= {"spoiler": "tg-spoiler", "code": "code"}


def write_html(formatted: Formatted) -> str:
    """`formatted` as HTML that Telegram reads back as the same text and entities."""
    return _html_node(entity_tree(formatted), formatted.text)


def _html_node(node: Node, text: str) -> str:
    inside = "".join(
        _html_node(part, text) if isinstance(part, Node) else html.escape(text[slice(*part)], False)
        for part in node_parts(node)
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
