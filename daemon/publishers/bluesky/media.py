"""Each image as Bluesky takes it: a blob of at most `max_image_bytes`, with its aspect ratio.

An image that fits is uploaded as it is. A larger one is re-encoded as a JPEG (turned
upright by its EXIF orientation first, as the blob keeps no EXIF), lowering the quality, then
the size, until it fits; the owner is told in the record's notes. The aspect ratio is the
upright image's, so the app lays the image out before it loads.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

_QUALITIES = (90, 80, 70)
_SHRINK = 0.8  # each step after the qualities: this much narrower and lower
_SMALLEST_SIDE = 320  # below this an image is not worth posting: give up instead
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


class ImageTooLargeError(Exception):
    """Raised when an image cannot be brought under the byte limit at a useful size."""


@dataclass(frozen=True)
class Blob:
    """One image's bytes as uploaded, and what the post says about it."""

    data: bytes
    width: int
    height: int
    mime_type: str = "image/jpeg"
    note: str | None = None  # said in the record when the image was re-encoded


def prepare_image(path: Path, max_bytes: int) -> Blob:
    """`path` as a blob of at most `max_bytes` (blocking: call it from a worker thread)."""
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        if image.getexif().get(0x0112) in _ROTATED:
            width, height = height, width
        if len(data) <= max_bytes:
            return Blob(data, width, height, _mime_type(image.format))
        upright = ImageOps.exif_transpose(image).convert("RGB")
    smaller = _reencode(path.name, upright, max_bytes)
    note = (
        f"{path.name} was {len(data):,} bytes, more than Bluesky's {max_bytes:,}: "
        f"re-encoded as a {smaller.width}x{smaller.height} JPEG of {len(smaller.data):,} bytes"
    )
    return Blob(smaller.data, smaller.width, smaller.height, note=note)


def _reencode(name: str, image: Image.Image, max_bytes: int) -> Blob:
    """The best JPEG of `image` under `max_bytes`: the highest quality, then the largest size."""
    while min(image.size) >= _SMALLEST_SIDE:
        for quality in _QUALITIES:
            data = _jpeg(image, quality)
            if len(data) <= max_bytes:
                return Blob(data, image.width, image.height)
        size = (round(image.width * _SHRINK), round(image.height * _SHRINK))
        image = image.resize(size, Image.Resampling.LANCZOS)
    raise ImageTooLargeError(
        f"{name}: no JPEG of it under {max_bytes:,} bytes is still {_SMALLEST_SIDE} pixels "
        "on its shorter side"
    )


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def _mime_type(image_format: str | None) -> str:
    """The type to upload as; a phone's MPO (a JPEG with a second picture) is a JPEG to Bluesky."""
    if image_format in (None, "MPO"):
        return "image/jpeg"
    return Image.MIME.get(image_format, "image/jpeg")
