"""A post: the image(s) and caption that dropcast publishes, read and checked from the inbox."""

from __future__ import annotations

import codecs
from collections.abc import Mapping
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
    """Read and check a complete post (blocking I/O: call it from a worker thread)."""
    check_image(image)
    try:
        caption = parse_caption(read_caption_text(caption_file))
    except FrontMatterError as error:
        raise PostRejectedError(f"{caption_file.name}: {error}") from None
    return Post(
        stem=stem,
        images=(image,),
        caption_file=caption_file,
        caption=caption.body,
        platforms=caption.overrides.platforms,
        captions=dict(caption.overrides.captions),
    )


def read_caption_text(path: Path) -> str:
    """The caption file as text: UTF-8, with or without a byte-order mark."""
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PostRejectedError(
            f"{path.name}: the caption is not UTF-8 text (byte {error.start} is invalid); "
            "save it as UTF-8"
        ) from None


def check_image(path: Path) -> None:
    """Raise `PostRejectedError` unless `path` is a complete image of a format we publish."""
    if path.stat().st_size == 0:
        raise PostRejectedError(f"{path.name}: the image file is empty (0 bytes)")
    try:
        with Image.open(path) as image:
            image_format = image.format
            image.verify()
        with Image.open(path) as image:
            # A reduced-size decode still reads every byte, so truncation is caught cheaply.
            image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except UnidentifiedImageError:
        raise PostRejectedError(f"{path.name}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise PostRejectedError(
            f"{path.name}: the image is damaged or incomplete ({error})"
        ) from None
    if image_format not in _IMAGE_FORMATS:
        raise PostRejectedError(f"{path.name}: a {image_format} image; expected JPEG, PNG or WebP")
