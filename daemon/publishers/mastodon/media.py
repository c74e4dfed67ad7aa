"""Images to the server's limits: its size (`image_size_limit`), its pixels
(`image_matrix_limit`) and the formats it takes (`supported_mime_types`).

An image within them is uploaded as it is, byte for byte. Any other is turned upright (its
EXIF orientation), scaled down to the pixel limit and saved as a JPEG, at lower qualities
and then smaller sizes until it fits the byte limit; the note says so.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from daemon.publishers.mastodon.instance import Limits

__all__ = ["PreparedImage", "prepare_image"]

_MIME_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_QUALITIES = (90, 80, 70)
_SHRINK = 0.8  # each step down in size, once the lowest quality is still too large
_MIN_SIDE = 16


@dataclass(frozen=True)
class PreparedImage:
    """One image as it is uploaded."""

    name: str
    data: bytes
    mime_type: str
    note: str | None = None  # what was done to it, for the owner


def prepare_image(path: Path, limits: Limits) -> PreparedImage:
    """`path` as the server takes it (blocking: call it from a worker thread)."""
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        mime_type = _MIME_TYPES.get(image.format or "", "")
        pixels = image.width * image.height
        if (
            mime_type in limits.supported_mime_types
            and len(data) <= limits.image_size_limit
            and pixels <= limits.image_matrix_limit
        ):
            return PreparedImage(path.name, data, mime_type)
        reason = _reason(mime_type, len(data), pixels, limits)
        fitted = _reencoded(ImageOps.exif_transpose(image), limits)
    with Image.open(io.BytesIO(fitted)) as result:
        size = f"{result.width}x{result.height}"
    note = f"{path.name} re-encoded for Mastodon ({reason}): a {size} JPEG of {len(fitted):,} bytes"
    return PreparedImage(f"{path.stem}.jpg", fitted, "image/jpeg", note)


def _reason(mime_type: str, size: int, pixels: int, limits: Limits) -> str:
    if mime_type not in limits.supported_mime_types:
        return f"the server does not take {mime_type or 'this format'}"
    if pixels > limits.image_matrix_limit:
        return f"{pixels:,} pixels, the server takes {limits.image_matrix_limit:,}"
    return f"{size:,} bytes, the server takes {limits.image_size_limit:,}"


def _reencoded(image: Image.Image, limits: Limits) -> bytes:
    """A JPEG of `image` within the server's pixels and bytes."""
    rgb = _flattened(image)
    scale = min(1.0, math.sqrt(limits.image_matrix_limit / (rgb.width * rgb.height)))
    while True:
        size = (max(_MIN_SIDE, int(rgb.width * scale)), max(_MIN_SIDE, int(rgb.height * scale)))
        scaled = rgb if size == rgb.size else rgb.resize(size, Image.Resampling.LANCZOS)
        for quality in _QUALITIES:
            encoded = io.BytesIO()
            scaled.save(encoded, "JPEG", quality=quality, optimize=True)
            if encoded.tell() <= limits.image_size_limit or min(size) <= _MIN_SIDE:
                return encoded.getvalue()
        scale *= _SHRINK


def _flattened(image: Image.Image) -> Image.Image:
    """`image` in RGB; transparency becomes white, as a viewer would show it."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
