"""The `preview` platform: a local gallery page, so dropcast shows something with no accounts.

Each post becomes its thumbnails (every image of an album, in order, each with its alt text
as the `alt`) and its caption in `<folder>/index.html`, newest first. A post with a content
warning shows the warning and keeps its images folded behind a `<details>` until clicked
(no JavaScript, no external assets). The entries live in `<folder>/posts.json` (see `Gallery`).
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from PIL import Image, ImageOps
from pydantic import Field

from daemon.colour import to_srgb
from daemon.fingerprint import Fingerprint, fingerprint
from daemon.names import cut_to_bytes, name_max, sendable
from daemon.post import Post
from daemon.publisher import Publisher, PublisherContext, PublishResult
from daemon.settings import ConfigPath, PlatformSettings

_THUMBNAIL_SIZE = (640, 640)
_THUMBNAIL_SUFFIX = ".jpg"
_MAX_NUMBER = 99_999  # a stem's entries in one second, at most: its name keeps room for this
_MAX_IMAGES = 999  # an album's thumbnails are `<id>.2.jpg` ...: names keep room for this

Entry = dict[str, Any]


class PreviewSettings(PlatformSettings):
    folder: ConfigPath = Path("preview")
    max_posts: int = Field(default=200, ge=1)
    title: str = "dropcast preview"


class PreviewPublisher(Publisher[PreviewSettings]):
    """Publishes into a static gallery page on the local disk."""

    platform_name = "preview"
    settings_model = PreviewSettings
    resend_after_unknown = "safe"  # at worst the gallery shows the post twice

    def __init__(self, settings: PreviewSettings, context: PublisherContext) -> None:
        super().__init__(settings, context)
        self._lock = anyio.Lock()  # posts publish concurrently; the page is one file
        self._gallery = Gallery(settings.folder, settings.title, settings.max_posts)

    async def publish(self, post: Post) -> PublishResult:
        async with self._lock:
            entry_id = await anyio.to_thread.run_sync(self._add, post)
        page = self.settings.folder / "index.html"
        url = f"{page.as_uri()}#{quote(entry_id)}"
        return PublishResult(ok=True, remote_id=entry_id, url=url)

    async def check_connection(self) -> str:
        """Whether the gallery's folder can be written (or made), without making it: a check
        changes nothing."""
        folder = self.settings.folder
        existing = folder
        while not existing.exists() and existing.parent != existing:
            existing = existing.parent  # the folder the first post will make it in
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is not a folder, so {folder} cannot be made")
        if not os.access(existing, os.W_OK | os.X_OK):
            making = "" if existing == folder else f" (to make {folder})"
            raise PermissionError(f"cannot write to {existing}{making}")
        made = "" if existing == folder else " (the folder is made with the first post)"
        return f"gallery at {folder / 'index.html'}{made}"

    def _add(self, post: Post) -> str:
        folder = self.settings.folder
        (folder / "thumbnails").mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        count = len(post.images)
        entry_id = _free_id(folder / "thumbnails", f"{now:%Y%m%dT%H%M%S}-", post.stem, count)
        thumbnails = _thumbnail_names(entry_id, count)
        for image, thumbnail in zip(post.images, thumbnails, strict=True):
            _write_thumbnail(image, folder / thumbnail)
        warning = post.content_warning
        dropped = self._gallery.add(
            {
                "id": entry_id,
                "stem": post.stem,
                "caption": post.caption_for(self.platform_name),
                "thumbnail": thumbnails[0],
                "thumbnails": thumbnails,
                "alt": [post.alt_for(index) for index in range(count)],
                "content_warning": None if warning is None else warning.describe(),
                "published_at": now.isoformat(timespec="seconds"),
            }
        )
        for entry in dropped:
            for name in _thumbnails_of(entry):
                _remove_thumbnail(folder, name)
        return entry_id


def _thumbnail_names(entry_id: str, count: int) -> list[str]:
    """`thumbnails/<id>.jpg` for the first image (as for a one-image post), `<id>.2.jpg` ..."""
    numbers = ["" if number == 1 else f".{number}" for number in range(1, count + 1)]
    return [f"thumbnails/{entry_id}{number}{_THUMBNAIL_SUFFIX}" for number in numbers]


def _thumbnails_of(entry: Entry) -> list[object]:
    """An entry's thumbnails: its list, or (an entry from before albums) its one."""
    names = entry.get("thumbnails")
    return list(names) if isinstance(names, list) and names else [entry.get("thumbnail")]


def _free_id(folder: Path, prefix: str, stem: str, count: int = 1) -> str:
    """`prefix` + the stem as a stored name, with `-1`, `-2`, … if any of its `count`
    thumbnails' names is taken.

    Control characters become `_` (a browser drops a newline from the <img> URL) and the stem
    is cut by bytes, between characters, so `<id>-99999.jpg` (for an album
    `<id>-99999.999.jpg`) fits the file system's NAME_MAX.
    """
    album_room = len(f".{_MAX_IMAGES}") if count > 1 else 0
    room = name_max(folder) - len(prefix) - len(f"-{_MAX_NUMBER}{_THUMBNAIL_SUFFIX}") - album_room
    wanted = prefix + cut_to_bytes(sendable(stem), room)
    candidate, number = wanted, 0
    while any((folder.parent / n).exists() for n in _thumbnail_names(candidate, count)):
        number += 1
        if number > _MAX_NUMBER:
            raise FileExistsError(f"no free thumbnail name for {stem!r} in {folder}")
        candidate = f"{wanted}-{number}"
    return candidate


def _remove_thumbnail(folder: Path, name: object) -> None:
    """Thumbnails are ours, derived from the archived originals; nothing else is removed."""
    if isinstance(name, str) and Path(name).parent == Path("thumbnails"):
        (folder / name).unlink(missing_ok=True)


def _write_thumbnail(image_path: Path, target: Path) -> None:
    with Image.open(image_path) as image:
        image.draft("RGB", _THUMBNAIL_SIZE)
        thumbnail = to_srgb(ImageOps.exif_transpose(image))
        thumbnail.thumbnail(_THUMBNAIL_SIZE)
        thumbnail.save(target, "JPEG", quality=85)


@dataclass(frozen=True)
class _Written:
    """What `posts.json` held when this gallery wrote it, and how to tell it is unchanged."""

    fingerprint: Fingerprint
    entries: tuple[Entry, ...]
    lines: tuple[str, ...]  # each entry as one line of JSON, in the same order
    fragments: tuple[str, ...]  # each entry as HTML, in the same order


class Gallery:
    """Newest-first entries, at most `max_posts`, saved as JSON and rendered as one page.

    Blocking (file I/O): call from a worker thread. The entries are kept in memory between
    posts and read again only when `posts.json` is not the file this gallery last wrote (a
    person edited or removed it), so a post costs one new entry, not a re-read of all of them.
    """

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
img {{ max-width: 100%; border-radius: 4px; display: block; }}
img + img {{ margin-top: 0.5rem; }}
details.warning summary {{ cursor: pointer; font-weight: 600; color: #8a1c1c; background: #fdecec;
                          border-radius: 4px; padding: 0.5rem 0.75rem; }}
details.warning[open] summary {{ margin-bottom: 0.5rem; }}
p.caption {{ white-space: pre-wrap; overflow-wrap: anywhere; }}
footer {{ color: #777; font-size: 0.85rem; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
{items or "<p>No posts yet: drop photo.jpg and photo.txt into the inbox.</p>"}
</body></html>
"""


def render_entry(entry: Entry) -> str:
    """One entry as HTML; every caption, alt text and name is escaped, the thumbnails' as URLs
    too (a `#`, `?` or `%` in a name would otherwise cut the URL short). A content warning is
    a label that unfolds the images when clicked (`<details>`)."""
    images = _images_html(entry)
    warning = entry.get("content_warning")
    if isinstance(warning, str) and warning:
        images = (
            f'<details class="warning"><summary>Content warning: {html.escape(warning)} '
            f"(click to show)</summary>{images}</details>"
        )
    return (
        f'<article id="{html.escape(str(entry.get("id", "")))}">{images}'
        f'<p class="caption">{html.escape(str(entry.get("caption", "")))}</p>'
        f"<footer>{html.escape(str(entry.get('stem', '')))} · "
        f"{html.escape(str(entry.get('published_at', '')))}</footer></article>"
    )


def _images_html(entry: Entry) -> str:
    """Each thumbnail in order, its alt text (else the stem, as before alt text) as `alt`."""
    stem = str(entry.get("stem", ""))
    alts = entry.get("alt")
    alts = alts if isinstance(alts, list) else []
    tags = []
    for index, name in enumerate(_thumbnails_of(entry)):
        alt = alts[index] if index < len(alts) and isinstance(alts[index], str) else ""
        tags.append(
            f'<img src="{html.escape(quote(str(name or "")))}" alt="{html.escape(alt or stem)}">'
        )
    return "".join(tags)
