"""The `preview` platform: a local gallery page, so dropcast shows something with no accounts.

Each post becomes a thumbnail and its caption in `<folder>/index.html`, newest first.
The entries live in `<folder>/posts.json` (see `_preview_gallery`).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import anyio
from PIL import Image, ImageOps
from pydantic import Field

from daemon.colour import to_srgb
from daemon.names import cut_to_bytes, name_max, sendable
from daemon.post import Post
from daemon.publisher import Publisher, PublisherContext, PublishResult
from daemon.publishers._preview_gallery import Gallery
from daemon.settings import ConfigPath, PlatformSettings

_THUMBNAIL_SIZE = (640, 640)
_THUMBNAIL_SUFFIX = ".jpg"
_MAX_NUMBER = 99_999  # a stem's entries in one second, at most: its name keeps room for this


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
        folder = self.settings.folder
        await anyio.to_thread.run_sync(lambda: folder.mkdir(parents=True, exist_ok=True))
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"cannot write to {folder}")
        return f"gallery at {folder / 'index.html'}"

    def _add(self, post: Post) -> str:
        folder = self.settings.folder
        (folder / "thumbnails").mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        entry_id = _free_id(folder / "thumbnails", f"{now:%Y%m%dT%H%M%S}-", post.stem)
        thumbnail = Path("thumbnails") / f"{entry_id}{_THUMBNAIL_SUFFIX}"
        _write_thumbnail(post.image, folder / thumbnail)
        dropped = self._gallery.add(
            {
                "id": entry_id,
                "stem": post.stem,
                "caption": post.caption_for(self.platform_name),
                "thumbnail": thumbnail.as_posix(),
                "published_at": now.isoformat(timespec="seconds"),
            }
        )
        for entry in dropped:
            _remove_thumbnail(folder, entry.get("thumbnail"))
        return entry_id


def _free_id(folder: Path, prefix: str, stem: str) -> str:
    """`prefix` + the stem as a stored name, with `-1`, `-2`, … if taken.

    Control characters become `_` (a browser drops a newline from the <img> URL) and the stem
    is cut by bytes, between characters, so `<id>-99999.jpg` fits the file system's NAME_MAX.
    """
    room = name_max(folder) - len(prefix) - len(f"-{_MAX_NUMBER}{_THUMBNAIL_SUFFIX}")
    wanted = prefix + cut_to_bytes(sendable(stem), room)
    candidate, number = wanted, 0
    while (folder / f"{candidate}{_THUMBNAIL_SUFFIX}").exists():
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
