"""A post: the image(s) and caption that dropcast publishes, read and checked from the inbox."""

from __future__ import annotations

import codecs
import hashlib
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from daemon.frontmatter import FrontMatterError, parse_caption

# Formats a platform can take, by what Pillow finds inside the file (not by its name).
_IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "MPO"}


class PostRejectedError(Exception):
    """Raised when a post can never be published as it is (bad image, bad caption, ...)."""


@dataclass(frozen=True)
class Post:
    """One post. `images` is a tuple so that albums need no redesign; today it holds one."""

    stem: str
    images: tuple[Path, ...]
    caption_file: Path
    caption: str
    platforms: tuple[str, ...] | None = None
    captions: Mapping[str, str] = field(default_factory=dict)
    identity: str = (
        ""  # SHA-256 of the image bytes and the caption file: the same post, whatever its name
    )
    ledger_id: int | None = None  # its row in the ledger, once admitted (keys its progress)

    @property
    def image(self) -> Path:
        return self.images[0]

    @property
    def files(self) -> tuple[Path, ...]:
        return (*self.images, self.caption_file)

    def caption_for(self, platform_name: str) -> str:
        """The caption `platform_name` gets: its own from the front matter, else the body."""
        return self.captions.get(platform_name, self.caption)


def read_post(stem: str, image: Path, caption_file: Path) -> Post:
    """Read and check a complete post, each file once (blocking: call it from a worker thread)."""
    image_bytes, caption_bytes = image.read_bytes(), caption_file.read_bytes()
    check_image_bytes(image.name, image_bytes)
    try:
        caption = parse_caption(decode_caption(caption_file.name, caption_bytes))
    except FrontMatterError as error:
        raise PostRejectedError(f"{caption_file.name}: {error}") from None
    return Post(
        identity=identity_of(image_bytes, caption_bytes),
        stem=stem,
        images=(image,),
        caption_file=caption_file,
        caption=caption.body,
        platforms=caption.overrides.platforms,
        captions=dict(caption.overrides.captions),
    )


def identity_of(image_bytes: bytes, caption_bytes: bytes) -> str:
    digest = hashlib.sha256(image_bytes)
    digest.update(b"\0caption\0")
    digest.update(caption_bytes)
    return digest.hexdigest()


def files_identity(files: Sequence[Path]) -> str:
    """A best-effort identity for files that could not be read as a post (never raises)."""
    digest = hashlib.sha256()
    for path in files:
        try:
            digest.update(
                path.read_bytes() if not path.is_symlink() else os.readlink(path).encode()
            )
        except OSError:
            digest.update(str(path).encode())
    return digest.hexdigest()


def read_caption_text(path: Path) -> str:
    """The caption file as text: UTF-8, with or without a byte-order mark."""
    return decode_caption(path.name, path.read_bytes())


def decode_caption(name: str, data: bytes) -> str:
    """Caption bytes as text: UTF-8, with or without a byte-order mark."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PostRejectedError(
            f"{name}: the caption is not UTF-8 text (byte {error.start} is invalid); "
            "save it as UTF-8"
        ) from None


def check_image(path: Path) -> None:
    """Raise `PostRejectedError` unless `path` is a complete image of a format we publish."""
    check_image_bytes(path.name, path.read_bytes())


def check_image_bytes(name: str, data: bytes) -> None:
    """Raise `PostRejectedError` unless `data` (the file `name`) is a complete, usable image."""
    if not data:
        raise PostRejectedError(f"{name}: the image file is empty (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            # A reduced-size decode still reads every byte, so truncation is caught cheaply.
            image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except UnidentifiedImageError:
        raise PostRejectedError(f"{name}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise PostRejectedError(f"{name}: the image is damaged or incomplete ({error})") from None
    if image_format not in _IMAGE_FORMATS:
        raise PostRejectedError(f"{name}: a {image_format} image; expected JPEG, PNG or WebP")
