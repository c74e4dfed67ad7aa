"""Reading a post from the inbox: image checks, caption text and front matter."""

from __future__ import annotations

import codecs
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from daemon.frontmatter import ContentWarning, ContentWarningChoice
from daemon.post import PostRejectedError, read_post
from tests.conftest import make_image
from tests.helpers import check_image

# A name with a space and an accent, so a message that names the file is easy to spot.
BAD_NAME = "broken café.jpg"


def _noisy_image(path: Path, image_format: str = "JPEG", **options: object) -> Path:
    """An image of random pixels: big enough that most of its bytes are pixel data."""
    pixels = Image.frombytes("RGB", (320, 240), os.urandom(320 * 240 * 3))
    pixels.save(path, image_format, **options)
    return path


def _cut_to_60_percent(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 60 // 100])


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _text(path: Path) -> None:
    path.write_text("this is not an image\n" * 20, encoding="utf-8")


def _truncated_jpeg(path: Path) -> None:
    _cut_to_60_percent(_noisy_image(path))


def _truncated_progressive_jpeg(path: Path) -> None:
    _cut_to_60_percent(_noisy_image(path, progressive=True))


def _truncated_png(path: Path) -> None:
    _cut_to_60_percent(_noisy_image(path, "PNG"))


def _truncated_webp(path: Path) -> None:
    _cut_to_60_percent(_noisy_image(path, "WEBP"))


def _gif(path: Path) -> None:
    make_image(path, image_format="GIF")


def _bmp(path: Path) -> None:
    make_image(path, image_format="BMP")


BAD_IMAGES: list[object] = [
    pytest.param(_zero_bytes, id="zero-bytes"),
    pytest.param(_text, id="text-named-jpg"),
    pytest.param(_truncated_jpeg, id="truncated-jpeg"),
    pytest.param(_truncated_progressive_jpeg, id="truncated-progressive-jpeg"),
    pytest.param(_truncated_png, id="truncated-png"),
    pytest.param(_truncated_webp, id="truncated-webp"),
    pytest.param(_gif, id="gif-named-jpg"),
    pytest.param(_bmp, id="bmp-named-jpg"),
]


@pytest.mark.parametrize("write_bad", BAD_IMAGES)
def test_check_image_rejects_bad_image(tmp_path: Path, write_bad: Callable[[Path], None]) -> None:
    """An image that is empty, not an image, cut short or of the wrong format is rejected."""
    path = tmp_path / BAD_NAME
    write_bad(path)
    with pytest.raises(PostRejectedError, match=BAD_NAME):
        check_image(path)


@pytest.mark.parametrize("write_bad", BAD_IMAGES)
def test_read_post_rejects_bad_image(tmp_path: Path, write_bad: Callable[[Path], None]) -> None:
    """read_post refuses a post whose image is bad, naming the image file."""
    path = tmp_path / BAD_NAME
    write_bad(path)
    caption = tmp_path / "broken café.txt"
    caption.write_text("caption", encoding="utf-8")
    with pytest.raises(PostRejectedError, match=BAD_NAME):
        read_post("broken café", path, caption)


def test_check_image_names_the_wrong_format(tmp_path: Path) -> None:
    """A GIF renamed `.jpg` is rejected with a message saying it is a GIF."""
    path = make_image(tmp_path / "animated.jpg", image_format="GIF")
    with pytest.raises(PostRejectedError, match="GIF"):
        check_image(path)


def test_check_image_accepts_an_intact_noisy_jpeg(tmp_path: Path) -> None:
    """The same large JPEG used for the truncation case is accepted when whole."""
    check_image(_noisy_image(tmp_path / "whole.jpg"))


@pytest.mark.parametrize(
    ("name", "image_format"),
    [
        ("photo.jpg", "JPEG"),
        ("photo.JPEG", "JPEG"),
        ("photo.png", "PNG"),
        ("photo.webp", "WEBP"),
        ("png inside.jpg", "PNG"),
    ],
)
def test_check_image_accepts_valid_image(tmp_path: Path, name: str, image_format: str) -> None:
    """A complete JPEG, PNG or WebP is accepted, whatever its suffix says."""
    check_image(make_image(tmp_path / name, size=(200, 150), image_format=image_format))


def test_check_image_accepts_png_with_transparency(tmp_path: Path) -> None:
    """A PNG with an alpha channel is accepted."""
    path = tmp_path / "alpha.png"
    Image.new("RGBA", (50, 40), (10, 20, 30, 128)).save(path, "PNG")
    check_image(path)


def _write_caption(folder: Path, text: str | bytes, stem: str = "post") -> tuple[Path, Path]:
    image = make_image(folder / f"{stem}.jpg")
    caption = folder / f"{stem}.txt"
    if isinstance(text, bytes):
        caption.write_bytes(text)
    else:
        caption.write_text(text, encoding="utf-8", newline="")
    return image, caption


def test_read_post_reads_a_large_caption_whole(tmp_path: Path) -> None:
    """A 100 KB caption arrives whole, every character kept."""
    text = "".join(f"line {n}: café 🌅 — {'x' * 60}\n" for n in range(1_400))
    assert len(text.encode("utf-8")) > 100_000
    image, caption = _write_caption(tmp_path, text)
    assert read_post("post", image, caption).caption == text


def test_read_post_fills_the_post(tmp_path: Path) -> None:
    """A caption without front matter gives a post with that body and no overrides."""
    image, caption = _write_caption(tmp_path, "Hello\nworld\n")
    post = read_post("post", image, caption)
    assert post.stem == "post"
    assert post.images == (image,)
    assert post.caption_file == caption
    assert post.caption == "Hello\nworld\n"
    assert post.platforms is None
    assert post.captions == {}


def test_read_post_strips_a_byte_order_mark(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark at the start of the caption is not part of the caption."""
    image, caption = _write_caption(tmp_path, codecs.BOM_UTF8 + "Grüße".encode())
    assert read_post("post", image, caption).caption == "Grüße"


def test_read_post_front_matter_after_a_byte_order_mark(tmp_path: Path) -> None:
    """Front matter is recognised even when the file starts with a byte-order mark."""
    text = "---\nplatforms: [preview]\n---\nBody"
    image, caption = _write_caption(tmp_path, codecs.BOM_UTF8 + text.encode())
    assert read_post("post", image, caption).platforms == ("preview",)


def test_read_post_parses_front_matter(tmp_path: Path) -> None:
    """Front matter sets the post's platforms and per-platform captions; the rest is the body."""
    text = (
        "---\n"
        "platforms: [telegram, email]\n"
        "captions:\n"
        "  telegram: Short one for Telegram\n"
        "---\n"
        "The caption everyone else gets.\n"
    )
    image, caption = _write_caption(tmp_path, text)
    post = read_post("post", image, caption)
    assert post.platforms == ("telegram", "email")
    assert post.captions == {"telegram": "Short one for Telegram"}
    assert post.caption == "The caption everyone else gets.\n"


@pytest.mark.parametrize(
    ("platform", "expected"),
    [("telegram", "Short one"), ("email", "Long body\n"), ("preview", "Long body\n")],
)
def test_caption_for_prefers_the_platforms_own_caption(
    tmp_path: Path, platform: str, expected: str
) -> None:
    """caption_for gives a platform its own caption from the front matter, else the body."""
    text = "---\ncaptions:\n  telegram: Short one\n---\nLong body\n"
    image, caption = _write_caption(tmp_path, text)
    assert read_post("post", image, caption).caption_for(platform) == expected


def test_read_post_front_matter_with_windows_line_endings(tmp_path: Path) -> None:
    """Front matter fenced with CRLF line endings is parsed like LF."""
    text = "---\r\nplatforms: [email]\r\n---\r\nBody\r\n"
    image, caption = _write_caption(tmp_path, text)
    post = read_post("post", image, caption)
    assert post.platforms == ("email",)
    assert post.caption == "Body\r\n"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param(b"caf\xe9 latin-1", "UTF-8", id="not-utf8"),
        pytest.param(b"---\nplatforms: [email]\nBody\n", "never closed", id="unclosed"),
        pytest.param(b"---\nplatforms: [email\n---\nBody\n", "YAML", id="bad-yaml"),
        pytest.param(b"---\nplatfroms: [email]\n---\nBody\n", "platfroms", id="unknown-key"),
        pytest.param(b"---\n- a\n- b\n---\nBody\n", "mapping", id="not-a-mapping"),
    ],
)
def test_read_post_rejects_bad_caption(tmp_path: Path, text: bytes, words: str) -> None:
    """A caption that is not UTF-8 or has bad front matter is rejected, naming the caption file."""
    image, caption = _write_caption(tmp_path, text, stem="bad caption")
    with pytest.raises(PostRejectedError) as raised:
        read_post("bad caption", image, caption)
    assert "bad caption.txt" in str(raised.value)
    assert words in str(raised.value)


def test_read_post_text_after_dashes_is_not_front_matter(tmp_path: Path) -> None:
    """A caption whose first line is not exactly `---` is all body."""
    text = "--- not front matter\nplatforms: [email]\n---\n"
    image, caption = _write_caption(tmp_path, text)
    post = read_post("post", image, caption)
    assert post.caption == text
    assert post.platforms is None


# --- albums: several images, alt text, content warning --------------------------------------


def _album(folder: Path, count: int, text: str = "An album") -> tuple[list[Path], Path]:
    images = [
        make_image(folder / f"walk.{n}.jpg", colour=(n * 40, 10, 10)) for n in range(1, count + 1)
    ]
    caption = folder / "walk.txt"
    caption.write_text(text, encoding="utf-8")
    return images, caption


def test_a_one_image_post_keeps_its_identity(tmp_path: Path) -> None:
    """One image: the SHA-256 of its bytes, a separator and the caption's, as ever (the
    ledger's earlier posts are matched by it)."""
    image, caption = _write_caption(tmp_path, "Hello")
    expected = hashlib.sha256(image.read_bytes() + b"\0caption\0" + b"Hello").hexdigest()
    assert read_post("post", image, caption).identity == expected
    assert read_post("post", [image], caption).identity == expected


def test_an_album_is_read_with_its_images_in_order(tmp_path: Path) -> None:
    """The album's images, in the order given; its identity is another than any one image's."""
    images, caption = _album(tmp_path, 3)
    post = read_post("walk", images, caption)
    assert post.images == tuple(images)
    assert post.files == (*images, caption)
    assert post.identity != read_post("walk", images[0], caption).identity


def test_an_albums_identity_depends_on_every_image_and_their_order(tmp_path: Path) -> None:
    """Another order, one image fewer, or another caption: another post."""
    images, caption = _album(tmp_path, 3)
    identity = read_post("walk", images, caption).identity
    assert read_post("walk", images, caption).identity == identity
    others = {
        read_post("walk", [images[1], images[0], images[2]], caption).identity,
        read_post("walk", images[:2], caption).identity,
    }
    caption.write_text("Another caption", encoding="utf-8")
    others.add(read_post("walk", images, caption).identity)
    assert len(others) == 3
    assert identity not in others


def test_a_bad_image_in_an_album_refuses_it_naming_that_image(tmp_path: Path) -> None:
    """A damaged second image is named; the album is refused."""
    images, caption = _album(tmp_path, 3)
    _truncated_jpeg(images[1])
    with pytest.raises(PostRejectedError, match=r"^walk\.2\.jpg: the image is damaged"):
        read_post("walk", images, caption)


def test_alt_text_and_a_content_warning_fill_the_post(tmp_path: Path) -> None:
    """alt gives each image its text in order (the third has none); the warning and its
    spoiler text become the post's content warning."""
    text = (
        "---\nalt:\n  - The lake\n  - The lake at night\n"
        "content_warning: nudity\nspoiler_text: Skinny dipping\n---\nBody"
    )
    images, caption = _album(tmp_path, 3, text)
    post = read_post("walk", images, caption)
    assert post.alt == ("The lake", "The lake at night")
    assert [post.alt_for(n) for n in range(3)] == ["The lake", "The lake at night", ""]
    assert post.content_warning == ContentWarning("nudity", "Skinny dipping")
    assert post.caption == "Body"


def test_the_default_warning_applies_unless_the_post_says_none(tmp_path: Path) -> None:
    """The config's default is the warning of a post that says nothing; `none` overrides it."""
    image, caption = _write_caption(tmp_path, "Plain")
    assert read_post("post", image, caption).content_warning is None
    assert read_post("post", image, caption, "sexual").content_warning == ContentWarning("sexual")
    caption.write_text("---\ncontent_warning: none\n---\nSafe", encoding="utf-8")
    assert read_post("post", image, caption, "sexual").content_warning is None


@pytest.mark.parametrize(
    ("text", "default", "message"),
    [
        (
            "---\nalt: [a, b, c]\n---\n",
            "none",
            "walk.txt: alt has 3 texts but the post has 2 images; give one text per image, in order",
        ),
        (
            "---\nalt: One for all\n---\n",
            "none",
            "walk.txt: alt is one text but the post has 2 images; give a list, one text per image "
            "in order",
        ),
        (
            "---\ncontent_warning: nude\n---\n",
            "none",
            "walk.txt: front matter: content_warning: 'nude' is not a content warning; choose one "
            "of none, nudity, sexual, porn, graphic-media",
        ),
        (
            "---\nspoiler_text: Nude\n---\n",
            "none",
            "walk.txt: spoiler_text needs a content warning",
        ),
    ],
    ids=[
        "more-alt-than-images",
        "one-alt-for-two-images",
        "warning-typo",
        "spoiler-without-warning",
    ],
)
def test_alt_text_and_warnings_that_do_not_fit_refuse_the_post_naming_the_caption(
    tmp_path: Path, text: str, default: ContentWarningChoice, message: str
) -> None:
    """Each front-matter mistake about alt text or warnings names walk.txt and what to write."""
    images, caption = _album(tmp_path, 2, text)
    with pytest.raises(PostRejectedError) as raised:
        read_post("walk", images, caption, default)
    assert str(raised.value).startswith(message)
