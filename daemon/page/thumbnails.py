"""The page's thumbnails: made once from a post's image, kept in `<folder>/thumbnails/`.

A thumbnail is named by the post's ledger id and the image's number (`12.1.jpg`), so two
posts named alike never share one, and one that exists is never made again. Blocking.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from pathlib import Path

import structlog
from PIL import Image, ImageOps, UnidentifiedImageError

from daemon.colour import to_srgb

log = structlog.get_logger("dropcast.page")

FOLDER = "thumbnails"
_SIZE = (480, 480)
_NAME = re.compile(r"(\d+)\.(\d+)\.jpg")
_UNREADABLE = (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError)


def thumbnail(folder: Path, post_id: int, number: int, image: Path) -> str | None:
    """The thumbnail of `image` (the post's `number`th) as a path relative to the page,
    made if missing; None if the image is gone or unreadable (the page shows a placeholder)."""
    name = f"{FOLDER}/{post_id}.{number}.jpg"
    target = folder / name
    if target.exists():
        return name
    if image.is_symlink() or not image.is_file():  # a link's target is never read
        return None
    try:
        _write(image, target)
    except _UNREADABLE as error:  # its post was refused for it already: not at every page
        target.with_name(f".{target.name}.tmp").unlink(missing_ok=True)
        log.debug("page.thumbnail_failed", image=str(image), error=str(error))
        return None
    return name


def _write(image_path: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    with Image.open(image_path) as image:
        image.draft("RGB", _SIZE)
        small = to_srgb(ImageOps.exif_transpose(image))
        small.thumbnail(_SIZE)
        small.save(temporary, "JPEG", quality=80)
    os.replace(temporary, target)


def remove_unshown(folder: Path, shown: Collection[int]) -> None:
    """Delete the thumbnails of posts no longer on the page (only names this module makes)."""
    try:
        names = os.listdir(folder / FOLDER)
    except FileNotFoundError:
        return
    for name in names:
        match = _NAME.fullmatch(name)
        if match and int(match[1]) not in shown:
            (folder / FOLDER / name).unlink(missing_ok=True)
