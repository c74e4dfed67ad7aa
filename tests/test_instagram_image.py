"""The JPEG Instagram gets: upright, RGB, inside 4:5 … 1.91:1, at most 1440 px wide."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from daemon.publishers.instagram.image import Fit, PreparedImage, prepare_image

Maker = Callable[[Path], Path]

RED, BLUE, WHITE, GREEN = (255, 0, 0), (0, 0, 255), (255, 255, 255), (0, 160, 0)


def opened(prepared: PreparedImage) -> Image.Image:
    """The prepared bytes, decoded by Pillow."""
    image = Image.open(io.BytesIO(prepared.data))
    image.load()
    return image


def near(
    image: Image.Image, xy: tuple[int, int], expected: tuple[int, int, int], tolerance: int = 12
) -> bool:
    """Whether the pixel at `xy` has the expected color, within JPEG's rounding."""
    pixel = image.getpixel(xy)
    assert isinstance(pixel, tuple)
    return all(abs(a - e) <= tolerance for a, e in zip(pixel[:3], expected, strict=True))


def tall_png_with_alpha(path: Path) -> Path:
    """1080x2400, transparent except for an opaque red band in the middle."""
    image = Image.new("RGBA", (1080, 2400), (0, 0, 0, 0))
    image.paste((*RED, 255), (0, 1000, 1080, 1400))
    image.save(path, "PNG")
    return path


def wide_jpeg(path: Path) -> Path:
    """3000x1000, blue."""
    Image.new("RGB", (3000, 1000), BLUE).save(path, "JPEG", quality=90)
    return path


def rotated_jpeg(path: Path) -> Path:
    """Stored as 400x300 landscape with a red top-left corner; EXIF orientation 6 (turn 90° right)."""
    image = Image.new("RGB", (400, 300), GREEN)
    image.paste(RED, (0, 0, 100, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(path, "JPEG", quality=95, exif=exif.tobytes())
    return path


def webp_with_alpha(path: Path) -> Path:
    """800x800 WebP, half transparent."""
    image = Image.new("RGBA", (800, 800), (*GREEN, 255))
    image.paste((0, 0, 0, 0), (0, 0, 800, 400))
    image.save(path, "WEBP", lossless=True)
    return path


@pytest.mark.parametrize(
    ("make", "fit", "size"),
    [
        (tall_png_with_alpha, "pad", (1440, 1800)),
        (tall_png_with_alpha, "crop", (1080, 1350)),
        (wide_jpeg, "pad", (1440, 754)),
        (wide_jpeg, "crop", (1440, 754)),
        (rotated_jpeg, "pad", (320, 400)),
        (rotated_jpeg, "crop", (320, 400)),
        (webp_with_alpha, "pad", (800, 800)),
    ],
)
def test_prepared_image_has_the_expected_size(
    tmp_path: Path, make: Maker, fit: Fit, size: tuple[int, int]
) -> None:
    """Each source comes out at the size its fit gives, and the reported size is the true one."""
    source = make(tmp_path / "source")
    prepared = prepare_image(source, fit=fit, pad_color="white")
    image = opened(prepared)
    assert image.size == size
    assert (prepared.width, prepared.height) == size


@pytest.mark.parametrize("make", [tall_png_with_alpha, wide_jpeg, rotated_jpeg, webp_with_alpha])
@pytest.mark.parametrize("fit", ["pad", "crop"])
def test_prepared_image_is_an_rgb_jpeg_inside_instagrams_ratios(
    tmp_path: Path, make: Maker, fit: Fit
) -> None:
    """Whatever the source, Instagram gets an RGB JPEG between 4:5 and 1.91:1, at most 1440 wide."""
    source = make(tmp_path / "source")
    image = opened(prepare_image(source, fit=fit, pad_color="white"))
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    assert 4 / 5 <= image.width / image.height <= 1.91
    assert image.width <= 1440


def test_padding_a_tall_image_adds_pad_color_at_the_sides(tmp_path: Path) -> None:
    """`fit: pad` widens a tall image with `pad_color` bars, keeping all of it."""
    source = tall_png_with_alpha(tmp_path / "tall.png")
    image = opened(prepare_image(source, fit="pad", pad_color="#0000ff"))
    assert near(image, (5, 900), BLUE)  # the bar beside the image
    assert near(image, (720, 900), RED)  # the red band, whole and centred


def test_transparency_is_flattened_onto_pad_color(tmp_path: Path) -> None:
    """A transparent area shows `pad_color`, not black."""
    source = tall_png_with_alpha(tmp_path / "tall.png")
    image = opened(prepare_image(source, fit="crop", pad_color="white"))
    assert near(image, (540, 10), WHITE)
    assert near(image, (540, 675), RED)


def test_cropping_a_wide_image_keeps_its_middle_and_full_height(tmp_path: Path) -> None:
    """`fit: crop` cuts the sides of a wide image, with no bars added."""
    source = wide_jpeg(tmp_path / "wide.jpg")
    image = opened(prepare_image(source, fit="crop", pad_color="white"))
    assert near(image, (0, 0), BLUE)
    assert near(image, (1439, 753), BLUE)


def test_exif_orientation_6_is_applied(tmp_path: Path) -> None:
    """A JPEG stored sideways with orientation 6 comes out upright: portrait, marker top right."""
    source = rotated_jpeg(tmp_path / "rotated.jpg")
    image = opened(prepare_image(source, fit="crop", pad_color="white"))
    assert image.height > image.width
    assert near(image, (image.width - 20, 20), RED)  # stored top-left, shown top-right
    assert near(image, (20, 20), GREEN)
    assert image.getexif().get(0x0112) in (None, 1)  # nobody will turn it a second time


def test_the_original_is_never_modified(tmp_path: Path) -> None:
    """Preparing reads the original only: its bytes are the same afterwards."""
    source = rotated_jpeg(tmp_path / "rotated.jpg")
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    prepare_image(source, fit="pad", pad_color="white")
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rotated.jpg"]


def test_quality_is_high(tmp_path: Path) -> None:
    """The JPEG is encoded at high quality (Pillow's estimate of its quantisation is 90 or more)."""
    source = wide_jpeg(tmp_path / "wide.jpg")
    image = opened(prepare_image(source, fit="pad", pad_color="white"))
    luma_table = image.quantization[0]  # type: ignore[attr-defined]
    assert max(luma_table) <= 12  # quality 75, instagrapi's own, has steps up to 61


def big_jpeg(path: Path) -> Path:
    """4000x3000: Pillow decodes it at half size, which must not show in the notes."""
    Image.new("RGB", (4000, 3000), GREEN).save(path, "JPEG", quality=80)
    return path


PADDED_TALL = "image padded with white bars at the sides to Instagram's tallest shape, 4:5"
CROPPED_TALL = (
    "image cropped at the top and bottom to Instagram's tallest shape, 4:5 (its middle is kept)"
)
PADDED_WIDE = (
    "image padded with white bars at the top and bottom to Instagram's widest shape, 1.91:1"
)
CROPPED_WIDE = "image cropped at the sides to Instagram's widest shape, 1.91:1 (its middle is kept)"


def resized(sent: str, original: str) -> str:
    return (
        f"image resized to {sent} pixels (the original is {original}; Instagram takes 320 to "
        "1440 pixels wide)"
    )


@pytest.mark.parametrize(
    ("make", "fit", "notes"),
    [
        (tall_png_with_alpha, "pad", (PADDED_TALL, resized("1440x1800", "1080x2400"))),
        (tall_png_with_alpha, "crop", (CROPPED_TALL,)),
        (wide_jpeg, "pad", (PADDED_WIDE, resized("1440x754", "3000x1000"))),
        (wide_jpeg, "crop", (CROPPED_WIDE, resized("1440x754", "3000x1000"))),
        (rotated_jpeg, "pad", (PADDED_TALL,)),
        (rotated_jpeg, "crop", (CROPPED_TALL, resized("320x400", "300x400"))),
        (webp_with_alpha, "pad", ()),
        (big_jpeg, "pad", (resized("1440x1080", "4000x3000"),)),
    ],
)
def test_notes_say_how_the_image_was_made_to_fit(
    tmp_path: Path, make: Maker, fit: Fit, notes: tuple[str, ...]
) -> None:
    """Padding, cropping and resizing are each noted, with the original's upright size."""
    prepared = prepare_image(make(tmp_path / "source"), fit=fit, pad_color="white")
    assert prepared.notes == notes
