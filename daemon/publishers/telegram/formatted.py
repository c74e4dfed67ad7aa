"""A caption as Telegram reads it, shared by the HTML and MarkdownV2 modules.

The model: a caption's plain text and the entities (`Span`s) over it, `MarkupError` for
markup Telegram would refuse, and the entities as a tree of `Node`s, which both writers walk.
Also the character-level helpers both readers need to read text exactly as TDLib does.
This module imports no other caption module, so the markup modules can both import it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import regex


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


# --- The entities as a tree ----------------------------------------------------------------


def clip(formatted: Formatted, a: int, b: int) -> Formatted:
    """The part of `formatted` in `text[a:b]`, with its entities clipped to it."""
    spans = tuple(
        replace(span, start=max(span.start, a) - a, end=min(span.end, b) - a)
        for span in formatted.spans
        if max(span.start, a) < min(span.end, b)
    )
    return Formatted(formatted.text[a:b], spans)


@dataclass
class Node:
    span: Span | None
    start: int
    end: int
    children: list[Node]


def entity_tree(formatted: Formatted, quotes_outside: bool = False) -> Node:
    """The entities as a tree: each inside the one it nests in (they never cross)."""
    root = Node(None, 0, len(formatted.text), [])
    stack = [root]

    def key(span: Span) -> tuple[int, int, int, int]:
        inner = 0 if quotes_outside and span.kind == "quote" else 1
        return (span.start, -span.end, inner, span.order)

    for span in sorted(formatted.spans, key=key):
        while stack[-1] is not root and span.end > stack[-1].end:
            stack.pop()
        node = Node(span, span.start, span.end, [])
        stack[-1].children.append(node)
        stack.append(node)
    return root


def node_parts(node: Node) -> list[Node | tuple[int, int]]:
    """A node's children with the plain text between them, in order."""
    parts: list[Node | tuple[int, int]] = []
    position = node.start
    for child in node.children:
        if child.start > position:
            parts.append((position, child.start))
        parts.append(child)
        position = child.end
    if node.end > position:
        parts.append((position, node.end))
    return parts


# --- Reading as TDLib does -----------------------------------------------------------------

SPACE = frozenset(" \t\r\n\0\v")  # TDLib's is_space: the end of the text counts as one


def char_at(text: str, index: int) -> str:
    """The character at `index`, or NUL past the end (as TDLib reads a C string)."""
    return text[index] if index < len(text) else "\0"


def ascii_lower(text: str) -> str:
    """ASCII letters in lower case, as TDLib's to_lower does; other characters as they are."""
    return "".join(character.lower() if character.isascii() else character for character in text)


def int_ok(text: str, bits: int) -> bool:
    """Whether `text` is an integer written as TDLib's to_integer_safe wants it, and fits."""
    return text == str(leading_int(text)) and -(2**bits) <= int(text) < 2**bits


def leading_int(text: str) -> int:
    """The integer `text` starts with, as TDLib's lenient to_integer reads it (0 if none)."""
    match = regex.match(r"-?[0-9]*", text)
    digits = match.group(0) if match else ""
    return int(digits) if digits.lstrip("-") else 0


def date_format_ok(date_format: str) -> bool:
    return date_format in ("r", "R") or all(c in "tTdDwW" for c in date_format)
