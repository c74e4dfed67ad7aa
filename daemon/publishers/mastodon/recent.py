"""Finding a thread part among the account's recent statuses, for an answer that was lost.

A status's `content` is the HTML Mastodon made of the text (paragraphs, line breaks, links
with their hidden `https://` and tail): read back as plain text and compared with spaces
folded, with the status it replies to, its content warning and its number of images.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html.parser import HTMLParser
from typing import Any

from daemon.publishers.mastodon.text import as_shown

__all__ = ["plain_text", "same_part"]


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(html: str) -> str:
    """The text a status's HTML `content` shows."""
    reader = _TextOf()
    reader.feed(html)
    reader.close()
    return "".join(reader.parts)


def _folded(text: str) -> str:
    return " ".join(text.split())


def same_part(
    status: Mapping[str, Any], text: str, reply_to: str | None, spoiler: str, images: int
) -> bool:
    """Whether `status` is the part with this text, parent, warning and number of images."""
    parent = status.get("in_reply_to_id")
    return (
        (str(parent) if parent is not None else None) == reply_to
        and _folded(plain_text(str(status.get("content") or ""))) == _folded(as_shown(text))
        and (status.get("spoiler_text") or "") == spoiler
        and len(status.get("media_attachments") or ()) == images
    )


def find_part(
    statuses: Iterable[Mapping[str, Any]],
    text: str,
    reply_to: str | None,
    spoiler: str,
    images: int,
) -> Mapping[str, Any] | None:
    """The oldest recent status that is this part (the first made, if a resend made two)."""
    found = [s for s in statuses if same_part(s, text, reply_to, spoiler, images)]
    return found[-1] if found else None
