"""The JPEG Instagram gets: upright, sRGB, inside 4:5 … 1.91:1, at most 1440 px wide.

A carousel's images all take its first image's shape and size (`prepare_to_size`): the app
shows every item in the first one's frame, so the others are padded or cropped (`fit`) to it.

The original is only read, never changed. instagrapi's own conversion ignores EXIF
rotation, re-encodes at JPEG quality 75, shrinks to 1080 px and reports the original's
size to Instagram, so the publisher uploads these bytes itself.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, ImageColor, ImageOps

from daemon.colour import to_srgb

Fit = Literal["pad", "crop"]

MAX_WIDTH = 1440
MIN_WIDTH = 320  # Instagram enlarges anything narrower; so do we, so the size we report is true
QUALITY = 95
# Instagram's aspect ratios for a feed photo, as fractions: 4:5 (tallest) to 1.91:1 (widest).
_TALL_W, _TALL_H = 4, 5
_WIDE_W, _WIDE_H = 191, 100
# Large enough for any fit at MAX_WIDTH; lets Pillow decode a big JPEG at a reduced scale.
_DRAFT_SIZE = (1800, 1800)


@dataclass(frozen=True)
class PreparedImage:
    """A JPEG ready to upload, its true size, and what was done to fit it (in words)."""

    data: bytes
    width: int
    height: int
    notes: tuple[str, ...] = ()


def parse_color(value: str) -> tuple[int, int, int]:
    """An RGB triple for a CSS-style color (`white`, `#1a1a1a`, `rgb(0,0,0)`); ValueError if unknown."""
    red, green, blue, *_ = ImageColor.getrgb(value)
    return red, green, blue


def prepare_image(source: Path, *, fit: Fit, pad_color: str) -> PreparedImage:
    """Read `source` and return the JPEG Instagram should get (blocking: run it in a thread)."""
    background = parse_color(pad_color)
    upright, full_size = _read_upright(source)
    framed = frame(flatten(upright, background), fit, background)
    sized = limit_width(framed)
    notes = (
        _frame_note(upright.size, framed.size, fit, pad_color),
        _size_note(full_size, sized.size) if sized.size != framed.size else None,
    )
    return _prepared(sized, notes)


def prepare_to_size(
    source: Path, size: tuple[int, int], *, fit: Fit, pad_color: str
) -> PreparedImage:
    """Read `source` and return it as a JPEG of exactly `size` (a carousel's shape, taken
    from its first image), padded or cropped to that ratio by `fit` (blocking)."""
    background = parse_color(pad_color)
    upright, full_size = _read_upright(source)
    framed = frame_to_ratio(flatten(upright, background), size, fit, background)
    sized = framed if framed.size == size else framed.resize(size, Image.Resampling.LANCZOS)
    shape = f"the carousel's shape, {size[0]}x{size[1]} like its first image"
    notes = (
        _ratio_note(upright.size, framed.size, fit, pad_color, shape),
        _size_note(full_size, sized.size) if sized.size != framed.size else None,
    )
    return _prepared(sized, notes)


def _read_upright(source: Path) -> tuple[Image.Image, tuple[int, int]]:
    """`source` decoded (at a reduced scale where it can be) and turned upright; and the
    full size of the upright original."""
    with Image.open(source) as original:
        stored = original.size
        original.draft("RGB", _DRAFT_SIZE)  # may decode a big JPEG at a fraction of its size
        decoded = original.size
        upright = ImageOps.exif_transpose(original)
    full_size = stored if upright.size == decoded else (stored[1], stored[0])
    return upright, full_size


def _prepared(image: Image.Image, notes: tuple[str | None, ...]) -> PreparedImage:
    buffer = io.BytesIO()
    # No ICC profile: the pixels are sRGB now, which is what an untagged JPEG means.
    image.save(buffer, "JPEG", quality=QUALITY, optimize=True)
    return PreparedImage(
        buffer.getvalue(), image.width, image.height, tuple(note for note in notes if note)
    )


def _frame_note(
    before: tuple[int, int], after: tuple[int, int], fit: Fit, pad_color: str
) -> str | None:
    """What `frame` did, in words; None if it left the image alone."""
    if before == after:
        return None
    tall = before[0] * _TALL_H < before[1] * _TALL_W
    shape = "tallest shape, 4:5" if tall else "widest shape, 1.91:1"
    if fit == "crop":
        cut = "top and bottom" if tall else "sides"
        return f"image cropped at the {cut} to Instagram's {shape} (its middle is kept)"
    bars = "sides" if tall else "top and bottom"
    return f"image padded with {pad_color} bars at the {bars} to Instagram's {shape}"


def _size_note(original: tuple[int, int], sent: tuple[int, int]) -> str:
    return (
        f"image resized to {sent[0]}x{sent[1]} pixels (the original is "
        f"{original[0]}x{original[1]}; Instagram takes {MIN_WIDTH} to {MAX_WIDTH} pixels wide)"
    )


def _ratio_note(
    before: tuple[int, int], after: tuple[int, int], fit: Fit, pad_color: str, shape: str
) -> str | None:
    """What `frame_to_ratio` did, in words; None if it left the image alone."""
    if before == after:
        return None
    if fit == "crop":
        cut = "sides" if after[0] < before[0] else "top and bottom"
        return f"image cropped at the {cut} to {shape} (its middle is kept)"
    bars = "sides" if after[0] > before[0] else "top and bottom"
    return f"image padded with {pad_color} bars at the {bars} to {shape}"


def flatten(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """An 8-bit sRGB image; transparent parts show `background` (JPEG has no alpha)."""
    return to_srgb(image, background)


def frame(image: Image.Image, fit: Fit, background: tuple[int, int, int]) -> Image.Image:
    """`image` brought inside 4:5 … 1.91:1 by padding with `background` or by cropping the middle."""
    width, height = image.size
    if width * _TALL_H < height * _TALL_W:  # taller than 4:5
        if fit == "crop":
            return _centre_crop(image, width, width * _TALL_H // _TALL_W)
        return _centre_pad(image, -(-height * _TALL_W // _TALL_H), height, background)
    if width * _WIDE_H > height * _WIDE_W:  # wider than 1.91:1
        if fit == "crop":
            return _centre_crop(image, height * _WIDE_W // _WIDE_H, height)
        return _centre_pad(image, width, -(-width * _WIDE_H // _WIDE_W), background)
    return image


def frame_to_ratio(
    image: Image.Image, ratio: tuple[int, int], fit: Fit, background: tuple[int, int, int]
) -> Image.Image:
    """`image` brought to the shape `ratio` (width, height) by padding or cropping the middle."""
    width, height = image.size
    ratio_w, ratio_h = ratio
    if width * ratio_h > height * ratio_w:  # wider than the shape
        if fit == "crop":
            return _centre_crop(image, max(1, height * ratio_w // ratio_h), height)
        return _centre_pad(image, width, -(-width * ratio_h // ratio_w), background)
    if width * ratio_h < height * ratio_w:  # taller than the shape
        if fit == "crop":
            return _centre_crop(image, width, max(1, width * ratio_h // ratio_w))
        return _centre_pad(image, -(-height * ratio_w // ratio_h), height, background)
    return image


def _centre_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))


def _centre_pad(
    image: Image.Image, width: int, height: int, background: tuple[int, int, int]
) -> Image.Image:
    canvas = Image.new("RGB", (width, height), background)
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    return canvas


def limit_width(image: Image.Image) -> Image.Image:
    """`image` scaled to between MIN_WIDTH and MAX_WIDTH wide, its ratio still inside Instagram's."""
    width = min(max(image.width, MIN_WIDTH), MAX_WIDTH)
    if width == image.width:
        return image
    height = round(image.height * width / image.width)
    # Rounding must not push the ratio outside 4:5 … 1.91:1.
    height = min(max(height, -(-width * _WIDE_H // _WIDE_W)), width * _TALL_H // _TALL_W)
    return image.resize((width, height), Image.Resampling.LANCZOS)
