"""The image as an e-mail attachment: sent as it is, or re-encoded as JPEG until it fits.

Blocking (file reads, Pillow): call these from a worker thread.
"""

from __future__ import annotations

import io
import math
import mimetypes
from dataclasses import dataclass
from pathlib import Path, PurePath

from PIL import Image, ImageOps

from daemon.colour import to_srgb
from daemon.names import sendable

# Content types by the format Pillow finds inside the file (an MPO is a JPEG with extras).
_CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}
_QUALITIES = (85, 75, 65, 55)
_SMALLEST_SIDE = 320  # pixels; below this a photo is no longer worth sending


class ImageTooLargeError(Exception):
    """Raised when an image cannot be re-encoded under `max_attachment_mb` at a useful size."""


@dataclass(frozen=True)
class Attachment:
    """The bytes to attach, what they are, and how they were made."""

    data: bytes
    content_type: str
    filename: str
    size: tuple[int, int]
    resized_from: int | None = None  # the original's byte count, if it was re-encoded
    quality: int | None = None  # the JPEG quality, if it was re-encoded

    @property
    def maintype(self) -> str:
        return self.content_type.partition("/")[0]

    @property
    def subtype(self) -> str:
        return self.content_type.partition("/")[2]


def load_attachment(path: Path, limit: int) -> Attachment:
    """The image at `path`, re-encoded as JPEG if it is larger than `limit` bytes."""
    data = path.read_bytes()
    filename = sendable(path.name)  # it goes in a header
    with Image.open(io.BytesIO(data)) as image:
        size, content_type = image.size, _content_type(image.format, filename)
        if len(data) <= limit:
            return Attachment(data, content_type, filename, size)
        image.load()
        # Transparent areas become white: JPEG has none.
        pixels = to_srgb(ImageOps.exif_transpose(image))
    encoded, quality, size = shrink_to_fit(pixels, limit)
    return Attachment(
        data=encoded,
        content_type="image/jpeg",
        filename=str(PurePath(filename).with_suffix(".jpg")),
        size=size,
        resized_from=len(data),
        quality=quality,
    )


def shrink_to_fit(image: Image.Image, limit: int) -> tuple[bytes, int, tuple[int, int]]:
    """JPEG bytes of `image` within `limit` (and their quality and size in pixels).

    Tries decreasing quality first, then a smaller size, until the bytes fit.
    """
    scale = 1.0
    while True:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        candidate = image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)
        for quality in _QUALITIES:
            encoded = _jpeg(candidate, quality)
            if len(encoded) <= limit:
                return encoded, quality, size
        if max(size) <= _SMALLEST_SIDE:
            raise ImageTooLargeError(
                f"the image does not fit in {limit / 1_000_000:g} MB even at {size[0]}x{size[1]} "
                "pixels: raise max_attachment_mb"
            )
        # The byte count follows the pixel count: aim under the limit, at least halve the area.
        scale *= max(0.5, min(0.9, math.sqrt(limit / len(encoded)) * 0.95))


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _content_type(image_format: str | None, filename: str) -> str:
    known = _CONTENT_TYPES.get(image_format or "")
    return known or mimetypes.guess_type(filename)[0] or "application/octet-stream"
