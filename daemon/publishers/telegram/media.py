"""Telegram's limits for photos, and what happens to an image outside them.

`sendPhoto` takes at most 10 MB, width + height at most 10000 pixels and an aspect ratio of
at most 20. An image outside those limits goes as a document (the original file, not
recompressed) or, with `oversize: scale`, is scaled down to a JPEG that fits.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, ImageOps

from daemon.colour import to_srgb
from daemon.names import sendable

Oversize = Literal["document", "scale"]

PHOTO_MAX_BYTES = 10_000_000
PHOTO_MAX_SIDES = 10_000  # width + height
PHOTO_MAX_RATIO = 20
# Telegram shows photos at most 2560 pixels on a side, so a scaled image loses nothing more.
SCALED_SIDE = 2560
# An upload is read from the disk in chunks of this size, and an image up to this size is
# kept in memory from its first read to its upload: one read instead of three.
CHUNK_BYTES = 1 << 20
_SCALED_QUALITY = (90, 80, 70)


@dataclass(frozen=True)
class Scaled:
    """A scaled-down JPEG of an image, and its size."""

    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class Media:
    """One image as it will be sent: as a photo or a document, scaled or the original."""

    path: Path
    as_photo: bool
    scaled: Scaled | None = None  # the scaled JPEG, if the image was scaled
    reason: str | None = None  # why the original is not sent as a photo
    data: bytes | None = None  # the original's bytes, if it is small enough to keep at hand

    def sha256(self) -> bytes:
        """The original file's SHA-256 (blocking, unless its bytes are at hand)."""
        if self.data is not None:
            return hashlib.sha256(self.data).digest()
        with self.path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").digest()

    @property
    def note(self) -> str | None:
        """For the result record: how this image was sent, if not as the original photo."""
        if self.scaled is not None:
            size = f"{self.scaled.width}x{self.scaled.height}"
            return f"{self.path.name} sent as a photo, re-encoded as a {size} JPEG: {self.reason}"
        if not self.as_photo:
            why = self.reason or "an album's images are all photos or all documents"
            return f"{self.path.name} sent as a document (the original file): {why}"
        return None

    @property
    def upload_name(self) -> str:
        """The file name Telegram gets: the original's, less control characters, which a
        multipart header cannot carry (aiohttp refuses them). The record keeps the original."""
        name = f"{self.path.stem}.jpg" if self.scaled is not None else self.path.name
        return sendable(name)


def prepare_media(path: Path, oversize: Oversize) -> Media:
    """Decide how to send the image at `path` (blocking: call it from a worker thread).

    An image of at most `CHUNK_BYTES` is read here once, for its size, its key and its
    upload; a larger one is streamed from the disk when it is sent.
    """
    size = path.stat().st_size
    data = path.read_bytes() if size <= CHUNK_BYTES else None
    with Image.open(path if data is None else io.BytesIO(data)) as image:
        width, height = image.size
    reason = photo_problem(size, width, height)
    if reason is None:
        return Media(path, as_photo=True, data=data)
    if oversize == "scale" and _ratio(width, height) <= PHOTO_MAX_RATIO:
        scaled = scale_down(path)
        if scaled is not None:
            return Media(path, as_photo=True, scaled=scaled, reason=reason, data=data)
    return Media(path, as_photo=False, reason=reason, data=data)


def photo_problem(size: int, width: int, height: int) -> str | None:
    """Why Telegram would refuse this image as a photo, or None if it would take it."""
    if size > PHOTO_MAX_BYTES:
        return f"{size / 1e6:.1f} MB is over the 10 MB Telegram takes for a photo"
    if width + height > PHOTO_MAX_SIDES:
        return (
            f"{width}x{height} pixels is over the 10000 (width + height) Telegram takes for a photo"
        )
    if _ratio(width, height) > PHOTO_MAX_RATIO:
        return (
            f"an aspect ratio of {_ratio(width, height):.1f}:1 is over the 20:1 "
            "Telegram takes for a photo"
        )
    return None


def scale_down(path: Path) -> Scaled | None:
    """The image as a JPEG at most SCALED_SIDE pixels on a side and within 10 MB, if it fits."""
    with Image.open(path) as original:
        # In sRGB and on white: the scaled JPEG carries no profile and has no alpha.
        image = to_srgb(ImageOps.exif_transpose(original))
    image.thumbnail((SCALED_SIDE, SCALED_SIDE), Image.Resampling.LANCZOS)
    for quality in _SCALED_QUALITY:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        if buffer.tell() <= PHOTO_MAX_BYTES:
            return Scaled(buffer.getvalue(), image.width, image.height)
    return None


def _ratio(width: int, height: int) -> float:
    return max(width, height) / max(1, min(width, height))
