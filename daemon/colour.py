"""One rule for the pixels of every re-encoded image: 8-bit, sRGB, transparency resolved.

Pillow's `convert("RGB")` alone gets several sources wrong: it clips 16-bit grey at 255
instead of scaling it (a mid-grey photo turns white), drops an alpha channel (transparent
areas show whatever colour hides under them, often black), and ignores an embedded colour
profile (an Adobe RGB or Display P3 photo keeps its numbers but loses their meaning).

The result carries no ICC profile: untagged pixels are read as sRGB by browsers, e-mail
clients and the platforms (which strip profiles anyway), and embedding one would add
bytes and a v4 profile that some older decoders mishandle.
"""

from __future__ import annotations

import io
from functools import cache

from PIL import Image, ImageCms

RGB = tuple[int, int, int]
WHITE: RGB = (255, 255, 255)

# Modes LittleCMS can read through Pillow; anything else becomes RGB before its profile applies.
_CMS_MODES = frozenset({"L", "RGB", "CMYK", "LAB"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# Info keys that describe the source's pixels, wrong for the converted ones.
_STALE_INFO = ("icc_profile", "transparency")


def to_srgb(image: Image.Image, background: RGB | None = WHITE) -> Image.Image:
    """`image` as 8-bit sRGB: RGB laid on `background`, or RGBA if `background` is None.

    Without a background only an image that has transparency comes back RGBA.
    """
    profile = image.info.get("icc_profile")
    colour, alpha = _split_alpha(_eight_bit(image))
    rgb = _in_srgb(colour, profile if isinstance(profile, bytes) else None)
    for key in _STALE_INFO:
        rgb.info.pop(key, None)
    if alpha is None:
        return rgb
    if background is None:
        rgb.putalpha(alpha)
        return rgb
    canvas = Image.new("RGB", rgb.size, background)
    canvas.paste(rgb, mask=alpha)
    canvas.info = rgb.info
    return canvas


def _eight_bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit grey scaled to 8-bit L; every other mode as it is."""
    if image.mode != "I" and not image.mode.startswith("I;16"):
        return image
    # "I" (any byte order) is the one wide mode Pillow scales linearly; its values are
    # taken as 16-bit, which is what PNG and TIFF decoders give. Rounded, not truncated.
    return image.convert("I").point(_sixteen_to_eight).convert("L")


def _sixteen_to_eight(value: Image.ImagePointTransform) -> Image.ImagePointTransform:
    return value / 257 + 0.5


def _split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """The colour bands, in a mode LittleCMS reads, and the alpha band if there is one."""
    if image.mode == "LA":
        # Kept grey, so that a grey profile still fits the pixels it describes.
        return image.getchannel("L"), image.getchannel("A")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")  # also turns a palette's transparent entries into alpha
        return rgba.convert("RGB"), rgba.getchannel("A")
    if image.mode in _CMS_MODES:
        return image, None
    return image.convert("RGB"), None


def _in_srgb(image: Image.Image, profile: bytes | None) -> Image.Image:
    """`image` converted from its embedded profile to sRGB, as RGB.

    A profile that is corrupt or does not fit the pixels (an RGB profile in a grey
    image) is ignored, as browsers do, rather than failing the post.
    """
    if profile:
        try:
            source = ImageCms.getOpenProfile(io.BytesIO(profile))
            converted = ImageCms.profileToProfile(image, source, _srgb(), outputMode="RGB")
        except ImageCms.PyCMSError:
            converted = None
        if converted is not None:
            return converted
    return image.convert("RGB")


@cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
