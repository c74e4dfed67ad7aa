"""The preview gallery's entries (`posts.json`) and its page (`index.html`).

Blocking (file I/O): call from a worker thread. The entries are kept in memory between
posts and read again only when `posts.json` is not the file this gallery last wrote (a
person edited or removed it), so a post costs one new entry, not a re-read of all of them.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from daemon.fingerprint import Fingerprint, fingerprint

Entry = dict[str, Any]


@dataclass(frozen=True)
class _Written:
    """What `posts.json` held when this gallery wrote it, and how to tell it is unchanged."""

    fingerprint: Fingerprint
    entries: tuple[Entry, ...]
    lines: tuple[str, ...]  # each entry as one line of JSON, in the same order
    fragments: tuple[str, ...]  # each entry as HTML, in the same order


class Gallery:
    """Newest-first entries, at most `max_posts`, saved as JSON and rendered as one page."""

    def __init__(self, folder: Path, title: str, max_posts: int) -> None:
        self.folder = folder
        self.title = title
        self.max_posts = max_posts
        self._written: _Written | None = None

    @property
    def entries_file(self) -> Path:
        return self.folder / "posts.json"

    def add(self, entry: Entry) -> list[Entry]:
        """Put `entry` first, save the entries and the page; return the entries dropped."""
        old = self._current()
        limit = self.max_posts
        entries = (entry, *old.entries)
        lines = (_json_line(entry), *old.lines)[:limit]
        fragments = (render_entry(entry), *old.fragments)[:limit]
        _replace_file(self.entries_file, "[\n" + ",\n".join(lines) + "\n]\n")
        _replace_file(self.folder / "index.html", page_around(self.title, fragments))
        self._written = _Written(fingerprint(self.entries_file), entries[:limit], lines, fragments)
        return list(entries[limit:])

    def _current(self) -> _Written:
        written = self._written
        now = fingerprint(self.entries_file)
        if written is not None and written.fingerprint == now:
            return written
        entries = tuple(_load_entries(self.entries_file))
        lines = tuple(_json_line(entry) for entry in entries)
        return _Written(now, entries, lines, tuple(render_entry(e) for e in entries))


def _json_line(entry: Entry) -> str:
    # One entry a line: readable, and json's C encoder (an indented dump runs in Python).
    return json.dumps(entry, ensure_ascii=False)


def _load_entries(path: Path) -> list[Entry]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return []
    return (
        [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []
    )


def _replace_file(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def page_around(title: str, fragments: tuple[str, ...]) -> str:
    """The gallery page around its entries' HTML; the title is escaped as HTML."""
    items = "\n".join(fragments)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 44rem; padding: 0 1rem;
       background: #fafafa; color: #222; }}
article {{ background: #fff; border: 1px solid #ddd; border-radius: 8px; margin: 0 0 1.5rem;
          padding: 1rem; }}
img {{ max-width: 100%; border-radius: 4px; }}
p.caption {{ white-space: pre-wrap; overflow-wrap: anywhere; }}
footer {{ color: #777; font-size: 0.85rem; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
{items or "<p>No posts yet: drop photo.jpg and photo.txt into the inbox.</p>"}
</body></html>
"""


def render_entry(entry: Entry) -> str:
    """One entry as HTML; every caption and name is escaped, the thumbnail's as a URL too
    (a `#`, `?` or `%` in its name would otherwise cut the URL short)."""
    return (
        f'<article id="{html.escape(str(entry.get("id", "")))}">'
        f'<img src="{html.escape(quote(str(entry.get("thumbnail", ""))))}" '
        f'alt="{html.escape(str(entry.get("stem", "")))}">'
        f'<p class="caption">{html.escape(str(entry.get("caption", "")))}</p>'
        f"<footer>{html.escape(str(entry.get('stem', '')))} · "
        f"{html.escape(str(entry.get('published_at', '')))}</footer></article>"
    )
