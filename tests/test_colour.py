"""Re-encoded images are 8-bit sRGB: 16-bit grey, palettes, alpha, CMYK and profiles converted."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageCms, ImageStat

from daemon.colour import to_srgb
from daemon.publishers.email.image import load_attachment
from daemon.publishers.instagram.image import prepare_image
from daemon.publishers.preview import _write_thumbnail
from daemon.publishers.telegram.media import prepare_media
from tests.test_instagram_image import near

RGB = tuple[int, int, int]
Probe = tuple[tuple[int, int], RGB]

WHITE, BLACK, MID_GREY = (255, 255, 255), (0, 0, 0), (128, 128, 128)
RED, BLUE = (255, 0, 0), (0, 0, 255)
# sRGB's pure red written in Display P3 (CSS color(display-p3 0.917 0.200 0.139)).
P3_RED = (234, 51, 35)
# Display P3's primaries adapted to D50, as its ICC profiles give them.
_P3_COLORANTS = {
    b"rXYZ": (0.51512, 0.24120, -0.00105),
    b"gXYZ": (0.29198, 0.69225, 0.04189),
    b"bXYZ": (0.15710, 0.06657, 0.78407),
}


# --- Sources ---------------------------------------------------------------------------


def ramp_samples(width: int, height: int, byte_order: str = "<") -> bytes:
    """16-bit grey rising evenly from 0 to 65535 across each row: a mean of 127.5 in 8 bits."""
    row = b"".join(
        struct.pack(f"{byte_order}H", round(x * 65535 / (width - 1))) for x in range(width)
    )
    return row * height


def ramp_png(path: Path, size: tuple[int, int] = (256, 8)) -> Path:
    """A 16-bit grey PNG of `ramp_samples`, stored uncompressed so that it is large."""
    Image.frombytes("I;16", size, ramp_samples(*size)).save(path, "PNG", compress_level=0)
    return path


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def p3_profile() -> bytes:
    """LittleCMS's sRGB profile with Display P3's primaries: same curve, a wider gamut."""
    profile = bytearray(srgb_profile())
    (count,) = struct.unpack_from(">I", profile, 128)
    for index in range(count):
        signature, offset, _ = struct.unpack_from(">4sII", profile, 132 + 12 * index)
        if signature in _P3_COLORANTS:  # an XYZ tag: type, reserved, then three s15Fixed16
            fixed = (round(value * 65536) for value in _P3_COLORANTS[signature])
            struct.pack_into(">3i", profile, offset + 8, *fixed)
    return bytes(profile)


def _i16b_tiff(path: Path) -> None:
    Image.frombytes("I;16B", (256, 8), ramp_samples(256, 8, ">")).save(path, "TIFF")


def _i32_tiff(path: Path) -> None:
    Image.frombytes("I;16", (256, 8), ramp_samples(256, 8)).convert("I").save(path, "TIFF")


def _palette_png(path: Path) -> None:
    image = Image.new("P", (8, 4), 0)
    image.putpalette([*BLACK, *RED])
    image.paste(1, (4, 0, 8, 4))
    image.save(path, "PNG", transparency=0)  # entry 0, black, is transparent


def _grey_alpha_png(path: Path) -> None:
    image = Image.new("LA", (12, 4), (0, 0))  # transparent black
    image.paste((0, 128), (4, 0, 8, 4))  # half-transparent black
    image.paste((64, 255), (8, 0, 12, 4))  # opaque dark grey
    image.save(path, "PNG")


def _rgba_png(path: Path) -> None:
    image = Image.new("RGBA", (12, 4), (*BLUE, 0))
    image.paste((*BLUE, 128), (4, 0, 8, 4))
    image.paste((*BLUE, 255), (8, 0, 12, 4))
    image.save(path, "PNG")


def _cmyk_jpeg(path: Path) -> None:
    # Pillow writes CMYK JPEGs the way Photoshop does: inverted, with an Adobe marker.
    image = Image.new("CMYK", (48, 16), (0, 0, 0, 0))  # white
    image.paste((0, 255, 255, 0), (16, 0, 32, 16))  # red
    image.paste((0, 0, 0, 255), (32, 0, 48, 16))  # black
    image.save(path, "JPEG", quality=95)


def _p3_png(path: Path) -> None:
    image = Image.new("RGB", (8, 4), P3_RED)
    image.paste(MID_GREY, (4, 0, 8, 4))
    image.save(path, "PNG", icc_profile=p3_profile())


def _p3_jpeg(path: Path) -> None:
    Image.new("RGB", (32, 16), P3_RED).save(path, "JPEG", quality=95, icc_profile=p3_profile())


def _p3_rgba_png(path: Path) -> None:
    image = Image.new("RGBA", (8, 4), (*P3_RED, 0))
    image.paste((*P3_RED, 255), (4, 0, 8, 4))
    image.save(path, "PNG", icc_profile=p3_profile())


def _srgb_png(path: Path) -> None:
    Image.new("RGB", (4, 4), (10, 200, 30)).save(path, "PNG", icc_profile=srgb_profile())


def _corrupt_profile_png(path: Path) -> None:
    Image.new("RGB", (4, 4), (10, 200, 30)).save(path, "PNG", icc_profile=b"not a profile")


# --- The conversion rule, one source at a time ------------------------------------------


@dataclass(frozen=True)
class Case:
    """A source file, what Pillow must open it as, and the sRGB colours it must come out in."""

    name: str
    write: Callable[[Path], object]
    mode: str
    probes: tuple[Probe, ...]
    marker: str | None = None  # an info key proving the file is the kind the case is about
    mean: float | None = None
    tolerance: int = 2


RAMP = (((0, 0), BLACK), ((128, 0), MID_GREY), ((255, 0), WHITE))
CASES = [
    Case("grey16.png", ramp_png, "I;16", RAMP, mean=127.5),
    Case("grey16be.tiff", _i16b_tiff, "I;16B", RAMP, mean=127.5),
    Case("grey32.tiff", _i32_tiff, "I", RAMP, mean=127.5),
    Case("palette.png", _palette_png, "P", (((0, 0), WHITE), ((7, 3), RED)), "transparency"),
    Case("grey-alpha.png", _grey_alpha_png, "LA", (((0, 0), WHITE), ((5, 0), (127,) * 3))),
    Case("rgba.png", _rgba_png, "RGBA", (((0, 0), WHITE), ((5, 0), (127, 127, 255)))),
    Case(
        "cmyk.jpg",
        _cmyk_jpeg,
        "CMYK",
        (((8, 8), WHITE), ((24, 8), RED), ((40, 8), BLACK)),
        "adobe",
        tolerance=12,
    ),
    Case("p3.png", _p3_png, "RGB", (((0, 0), RED), ((7, 3), MID_GREY)), "icc_profile"),
    Case("p3.jpg", _p3_jpeg, "RGB", (((16, 8), RED),), "icc_profile", tolerance=12),
    Case("p3-alpha.png", _p3_rgba_png, "RGBA", (((0, 0), WHITE), ((7, 3), RED)), "icc_profile"),
    Case("srgb.png", _srgb_png, "RGB", (((0, 0), (10, 200, 30)),), "icc_profile", tolerance=1),
    Case("corrupt-icc.png", _corrupt_profile_png, "RGB", (((0, 0), (10, 200, 30)),), tolerance=0),
]


def mean_brightness(image: Image.Image) -> float:
    """The average of every channel of every pixel, 0 to 255."""
    means = ImageStat.Stat(image).mean
    return sum(means) / len(means)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_source_comes_out_in_the_srgb_colours_it_shows(tmp_path: Path, case: Case) -> None:
    """Every kind of source becomes 8-bit RGB whose pixels are the colours it shows, on white."""
    path = tmp_path / case.name
    case.write(path)
    with Image.open(path) as image:
        assert image.mode == case.mode
        assert case.marker is None or case.marker in image.info
        result = to_srgb(image)
    assert result.mode == "RGB"
    assert "icc_profile" not in result.info
    for xy, colour in case.probes:
        assert near(result, xy, colour, case.tolerance), (xy, result.getpixel(xy))
    if case.mean is not None:
        assert mean_brightness(result) == pytest.approx(case.mean, abs=0.6)


def test_without_a_background_the_alpha_is_kept_and_the_colour_converted(tmp_path: Path) -> None:
    """With `background=None` a transparent Display P3 image comes back RGBA, its alpha intact."""
    path = tmp_path / "p3-alpha.png"
    _p3_rgba_png(path)
    with Image.open(path) as image:
        result = to_srgb(image, background=None)
    assert result.mode == "RGBA"
    assert result.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert result.getpixel((7, 3)) == (*RED, 255)
    assert "icc_profile" not in result.info


def test_transparency_shows_the_background_it_is_given() -> None:
    """A transparent area takes the caller's background colour (Instagram's `pad_color`)."""
    image = Image.new("LA", (2, 2), (0, 0))
    assert to_srgb(image, background=BLUE).getpixel((0, 0)) == BLUE


def test_the_source_image_is_left_as_it_was(tmp_path: Path) -> None:
    """Converting reads the image only: its mode, pixels and profile are unchanged afterwards."""
    path = tmp_path / "p3.png"
    _p3_png(path)
    with Image.open(path) as image:
        profile = image.info["icc_profile"]
        assert profile[36:40] == b"acsp"  # the P3 profile it was saved with
        to_srgb(image)
        assert (image.mode, image.getpixel((0, 0))) == ("RGB", P3_RED)
        # The same bytes: a profile made anew carries the second it was made in (bytes 24-35).
        assert image.info["icc_profile"] == profile


# --- Each platform's re-encode -----------------------------------------------------------

Reencode = Callable[[Path], bytes]


def _instagram(path: Path) -> bytes:
    return prepare_image(path, fit="pad", pad_color="white").data


def _telegram(path: Path) -> bytes:
    media = prepare_media(path, "scale")
    assert media.scaled is not None  # over the width + height limit, so scaled
    return media.scaled.data


def _email(path: Path) -> bytes:
    attachment = load_attachment(path, 100_000)
    assert attachment.resized_from is not None  # over the limit, so re-encoded
    return attachment.data


def _preview(path: Path) -> bytes:
    target = path.with_name("thumbnail.jpg")
    _write_thumbnail(path, target)
    return target.read_bytes()


# Each platform's function and a size that makes it re-encode (uncompressed, 400x400 is
# over the e-mail limit; 9500 + 600 is over Telegram's 10000 for width + height).
PLATFORMS: dict[str, tuple[Reencode, tuple[int, int]]] = {
    "instagram": (_instagram, (400, 400)),
    "telegram": (_telegram, (9500, 600)),
    "email": (_email, (400, 400)),
    "preview": (_preview, (400, 400)),  # every thumbnail is a re-encode
}


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_16_bit_png_keeps_its_brightness_on_every_platform(tmp_path: Path, platform: str) -> None:
    """A 16-bit grey ramp is sent as a JPEG of mean 127.5 (not near-white) with no profile."""
    reencode, size = PLATFORMS[platform]
    result = decoded(reencode(ramp_png(tmp_path / "ramp.png", size)))
    assert (result.format, result.mode) == ("JPEG", "RGB")
    assert mean_brightness(result) == pytest.approx(127.5, abs=1.0)
    assert "icc_profile" not in result.info


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_display_p3_image_is_sent_converted_to_srgb(tmp_path: Path, platform: str) -> None:
    """A Display P3 image arrives as untagged sRGB whose pixels show the same red."""
    reencode, size = PLATFORMS[platform]
    path = tmp_path / "p3.png"
    Image.new("RGB", size, P3_RED).save(path, "PNG", compress_level=0, icc_profile=p3_profile())
    result = decoded(reencode(path))
    assert near(result, (result.width // 2, result.height // 2), RED, tolerance=6)
    assert "icc_profile" not in result.info
