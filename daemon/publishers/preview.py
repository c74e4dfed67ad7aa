"""The `preview` platform: a local gallery page, so dropcast shows something with no accounts.

Each post becomes a thumbnail and its caption in `<folder>/index.html`, newest first.
The entries live in `<folder>/posts.json`; the page is rebuilt from it on every post.
"""

from __future__ import annotations

import html
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from PIL import Image, ImageOps
from pydantic import Field

from daemon.post import Post
from daemon.publishers.base import Publisher, PublisherContext, PublishResult
from daemon.settings import ConfigPath, PlatformSettings

_THUMBNAIL_SIZE = (640, 640)


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

    async def publish(self, post: Post) -> PublishResult:
        async with self._lock:
            entry_id = await anyio.to_thread.run_sync(self._add, post)
        page = self.settings.folder / "index.html"
        url = f"{page.as_uri()}#{quote(entry_id)}"
        return PublishResult(ok=True, remote_id=entry_id, url=url)

    async def check_connection(self) -> str:
        folder = self.settings.folder
        await anyio.to_thread.run_sync(lambda: folder.mkdir(parents=True, exist_ok=True))
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"cannot write to {folder}")
        return f"gallery at {folder / 'index.html'}"

    def _add(self, post: Post) -> str:
        folder = self.settings.folder
        (folder / "thumbnails").mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        # The stem is cut so the thumbnail's name stays well inside any file system's limit.
        entry_id = _free_id(folder / "thumbnails", f"{now:%Y%m%dT%H%M%S}-{post.stem[:80]}")
        thumbnail = Path("thumbnails") / f"{entry_id}.jpg"
        _write_thumbnail(post.image, folder / thumbnail)
        entries = [
            {
                "id": entry_id,
                "stem": post.stem,
                "caption": post.caption_for(self.platform_name),
                "thumbnail": thumbnail.as_posix(),
                "published_at": now.isoformat(timespec="seconds"),
            },
            *_load_entries(folder / "posts.json"),
        ]
        kept, dropped = entries[: self.settings.max_posts], entries[self.settings.max_posts :]
        _replace_file(folder / "posts.json", json.dumps(kept, indent=1, ensure_ascii=False))
        _replace_file(folder / "index.html", render_page(self.settings.title, kept))
        for entry in dropped:  # thumbnails are ours, derived from the archived originals
            (folder / entry["thumbnail"]).unlink(missing_ok=True)
        return entry_id


def _free_id(folder: Path, wanted: str) -> str:
    candidate, number = wanted, 0
    while (folder / f"{candidate}.jpg").exists():
        number += 1
        candidate = f"{wanted}-{number}"
    return candidate


def _write_thumbnail(image_path: Path, target: Path) -> None:
    with Image.open(image_path) as image:
        image.draft("RGB", _THUMBNAIL_SIZE)
        thumbnail = ImageOps.exif_transpose(image).convert("RGB")
        thumbnail.thumbnail(_THUMBNAIL_SIZE)
        thumbnail.save(target, "JPEG", quality=85)


def _load_entries(path: Path) -> list[dict[str, Any]]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return []
    return entries if isinstance(entries, list) else []


def _replace_file(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def render_page(title: str, entries: list[dict[str, Any]]) -> str:
    """The gallery page; every caption and name is escaped as HTML."""
    items = "\n".join(_render_entry(entry) for entry in entries)
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


def _render_entry(entry: dict[str, Any]) -> str:
    return (
        f'<article id="{html.escape(str(entry["id"]))}">'
        f'<img src="{html.escape(str(entry["thumbnail"]))}" alt="{html.escape(str(entry["stem"]))}">'
        f'<p class="caption">{html.escape(str(entry["caption"]))}</p>'
        f"<footer>{html.escape(str(entry['stem']))} · {html.escape(str(entry['published_at']))}"
        "</footer></article>"
    )
