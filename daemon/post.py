"""A post: the image(s) and caption that dropcast publishes, read and checked from the inbox."""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import stat
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from daemon.frontmatter import (
    ContentWarning,
    ContentWarningChoice,
    FrontMatterError,
    parse_caption,
)

# Formats a platform can take, by what Pillow finds inside the file (not by its name).
_IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "MPO"}
# The plug-ins that read those formats' headers (MPO is a JPEG to the header).
_HEADER_FORMATS = ("JPEG", "PNG", "WEBP")
# The core setting `max_image_pixels`'s default. A JPEG (a phone's photo) is decoded at 1/8
# scale where it can be: 48 Mpx peaked at 82 MB in the daemon with preview. A PNG is decoded
# whole, 3-4 bytes a pixel and a copy or two more in each re-encode: 48 Mpx peaked at 610 MB,
# 144 Mpx at 1.7 GB. 50 Mpx takes every phone's 48-50 Mpx photo and keeps a 1 GB board alive.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000


class PostRejectedError(Exception):
    """Raised when a post can never be published as it is (bad image, bad caption, ...)."""


_bound = {"max_pixels": DEFAULT_MAX_IMAGE_PIXELS}


def set_max_image_pixels(max_pixels: int) -> None:
    """Refuse images of more than `max_pixels`, here and in every Pillow decode of the process.

    Pillow's own bound is set to the same value: a code path that skips `read_post` meets
    Pillow's warning above it and its error above twice it, never a silent decode.
    """
    _bound["max_pixels"] = max_pixels
    Image.MAX_IMAGE_PIXELS = max_pixels


set_max_image_pixels(DEFAULT_MAX_IMAGE_PIXELS)


@dataclass(frozen=True)
class Post:
    """One post: one image, or an album of several in order, and its caption.

    `alt` holds each image's alt text, in the images' order ("" where none was given; it may
    be shorter than `images`: use `alt_for`). `content_warning` is the one in force for the
    post (its front matter's, else the config's default), None for none.
    """

    stem: str
    images: tuple[Path, ...]
    caption_file: Path
    caption: str
    platforms: tuple[str, ...] | None = None
    captions: Mapping[str, str] = field(default_factory=dict)
    # SHA-256 of the image bytes (an album's, in order) and the caption file: the same post,
    # whatever its name.
    identity: str = ""
    ledger_id: int | None = None  # its row in the ledger, once admitted (keys its progress)
    alt: tuple[str, ...] = ()
    content_warning: ContentWarning | None = None

    @property
    def image(self) -> Path:
        return self.images[0]

    def alt_for(self, index: int) -> str:
        """The alt text of image number `index` (from 0), "" when the owner gave none."""
        return self.alt[index] if index < len(self.alt) else ""

    @property
    def files(self) -> tuple[Path, ...]:
        return (*self.images, self.caption_file)

    def caption_for(self, platform_name: str) -> str:
        """The caption `platform_name` gets: its own from the front matter, else the body."""
        return self.captions.get(platform_name, self.caption)


def read_post(
    stem: str,
    images: Path | Sequence[Path],
    caption_file: Path,
    default_warning: ContentWarningChoice = "none",
) -> Post:
    """Read and check a complete post, each file once (blocking: call it from a worker thread).

    `images` is one image, or an album's in order; `default_warning` (the config's) is the
    content warning of a post whose front matter says nothing of it.
    """
    paths = (images,) if isinstance(images, Path) else tuple(images)
    if not paths:
        raise PostRejectedError(f"{stem}: a post without an image")
    image_digests = [_checked_digest(path) for path in paths]
    caption_bytes = caption_file.read_bytes()
    try:
        caption = parse_caption(decode_caption(caption_file.name, caption_bytes))
        alt = caption.overrides.alt_texts(len(paths))
        warning = caption.overrides.warning_in_force(default_warning)
    except FrontMatterError as error:
        raise PostRejectedError(f"{caption_file.name}: {error}") from None
    return Post(
        identity=_identity(image_digests, caption_bytes),
        stem=stem,
        images=paths,
        caption_file=caption_file,
        caption=caption.body,
        platforms=caption.overrides.platforms,
        captions=dict(caption.overrides.captions),
        alt=alt,
        content_warning=warning,
    )


def _checked_digest(path: Path) -> hashlib._Hash:
    """The SHA-256 of a checked image: one image's bytes at a time, never an album's at once."""
    data = path.read_bytes()
    check_image_bytes(path.name, data)
    return hashlib.sha256(data)


def _identity(image_digests: Sequence[hashlib._Hash], caption_bytes: bytes) -> str:
    """One image: `identity_of`, exactly (the ledger's earlier posts match it); several: each
    image's digest in order, then the caption, so that another order is another post."""
    if len(image_digests) == 1:
        return _with_caption(image_digests[0].copy(), caption_bytes)
    digest = hashlib.sha256(b"dropcast album\0")
    for image_digest in image_digests:
        digest.update(image_digest.digest())
    return _with_caption(digest, caption_bytes)


def identity_of(image_bytes: bytes, caption_bytes: bytes) -> str:
    """A one-image post's identity: the same post, whatever its name."""
    return _with_caption(hashlib.sha256(image_bytes), caption_bytes)


def _with_caption(digest: hashlib._Hash, caption_bytes: bytes) -> str:
    digest.update(b"\0caption\0")
    digest.update(caption_bytes)
    return digest.hexdigest()


def files_identity(files: Sequence[Path]) -> str:
    """A best-effort identity for files that could not be read as a post (never raises)."""
    digest = hashlib.sha256()
    for path in files:
        try:
            digest.update(_identity_bytes(path))
        except OSError:
            digest.update(os.fsencode(path))
    return digest.hexdigest()


def _identity_bytes(path: Path) -> bytes:
    """A file's bytes, a link's target, or for anything else (a FIFO blocks) its name."""
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return os.fsencode(os.readlink(path))
    if stat.S_ISREG(mode):
        return path.read_bytes()
    return os.fsencode(path)


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


def check_image_bytes(name: str, data: bytes) -> None:
    """Raise `PostRejectedError` unless `data` (the file `name`) is a complete, usable image."""
    if not data:
        raise PostRejectedError(f"{name}: the image file is empty (0 bytes)")
    _check_pixels(name, data)
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


def _check_pixels(name: str, data: bytes) -> None:
    """Refuse an image of more pixels than the bound, from its header: nothing is decoded."""
    size = header_size(data)
    if size is None:
        return  # not one of ours: refused below, as unreadable or of the wrong format
    width, height = size
    limit = _bound["max_pixels"]
    if width * height > limit:
        raise PostRejectedError(
            f"{name} is {width}x{height} = {_mpx(width * height)} Mpx, more than "
            f"max_image_pixels ({_mpx(limit)} Mpx); scale it down to at most {_mpx(limit)} Mpx"
        )


def header_size(data: bytes) -> tuple[int, int] | None:
    """The width and height a JPEG, PNG or WebP header gives, or None for any other data.

    Read with the format's own plug-in, not `Image.open`, whose bomb check would warn (or
    raise) before the size could be told to the owner.
    """
    Image.init()
    for image_format in _HEADER_FORMATS:
        factory, accept = Image.OPEN[image_format]
        if accept is not None and not accept(data[:16]):
            continue
        try:
            with factory(io.BytesIO(data), "") as image:
                width, height = image.size
        except (OSError, SyntaxError, ValueError, struct.error):
            return None  # a damaged header: `Image.open` says so below
        return width, height
    return None


def _mpx(pixels: int) -> str:
    """Pixels in megapixels, as short as it stays exact enough: 144, 50, 0.003."""
    return f"{pixels / 1e6:.3g}"
