"""Bad input in the inbox: each case ends with a clear record, and nothing is lost or sent twice."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import anyio
import pytest
from PIL import Image

from daemon.config import CoreSettings
from daemon.post import DEFAULT_MAX_IMAGE_PIXELS
from daemon.registry import Registry
from tests.conftest import (
    archived,
    inbox_files,
    make_image,
    running_daemon,
    wait_for,
    write_config,
    write_post,
)
from tests.fakes.publishers import RECEIVED


def failed_names(folder: Path) -> list[str]:
    failed = folder / "failed"
    return sorted(p.name for p in failed.iterdir()) if failed.exists() else []


def failed_reason(folder: Path, stem: str) -> str:
    record = json.loads((folder / "failed" / f"{stem}.result.json").read_text(encoding="utf-8"))
    assert record["outcome"] == "failed"
    return str(record["error"])


def jpeg_bytes(size: tuple[int, int] = (400, 300)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


REJECTED_IMAGES = [
    pytest.param(b"", "empty (0 bytes)", id="zero-byte image"),
    pytest.param(b"just some words, not a picture\n", "not an image", id="text file named .jpg"),
    pytest.param(jpeg_bytes()[:3000], "damaged or incomplete", id="truncated JPEG"),
]


@pytest.mark.parametrize(("content", "reason"), REJECTED_IMAGES)
async def test_an_image_that_is_not_a_whole_image_goes_to_failed(
    tmp_path: Path, registry: Registry, content: bytes, reason: str
) -> None:
    """A broken image is moved to failed/ with its caption and a record naming the file; no platform sees it."""
    config = write_config(tmp_path)
    async with running_daemon(config, registry):
        (tmp_path / "inbox" / "broken.jpg").write_bytes(content)
        (tmp_path / "inbox" / "broken.txt").write_text("caption", encoding="utf-8")
        await wait_for(lambda: "broken.result.json" in failed_names(tmp_path), what="failed/")
    assert failed_names(tmp_path) == ["broken.jpg", "broken.result.json", "broken.txt"]
    assert (tmp_path / "failed" / "broken.jpg").read_bytes() == content
    error = failed_reason(tmp_path, "broken")
    assert error.startswith("broken.jpg: ")
    assert reason in error
    assert RECEIVED == {}


async def test_a_latin1_caption_goes_to_failed_with_a_clear_reason(
    tmp_path: Path, registry: Registry
) -> None:
    """A caption that is not UTF-8 is refused, naming the caption file."""
    config = write_config(tmp_path)
    async with running_daemon(config, registry):
        make_image(tmp_path / "inbox" / "cafe.jpg")
        (tmp_path / "inbox" / "cafe.txt").write_bytes("Café crème".encode("latin-1"))
        await wait_for(lambda: "cafe.result.json" in failed_names(tmp_path), what="failed/")
    assert "cafe.txt: the caption is not UTF-8" in failed_reason(tmp_path, "cafe")
    assert RECEIVED == {}


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        pytest.param("", "", id="empty caption"),
        pytest.param("\ufeffWith a byte-order mark", "With a byte-order mark", id="BOM"),
        pytest.param("word " * 20_000, "word " * 20_000, id="100 KB caption"),
    ],
)
async def test_unusual_but_valid_captions_are_published_whole(
    tmp_path: Path, registry: Registry, caption: str, expected: str
) -> None:
    """Empty, BOM-prefixed and very long captions are published exactly, never cut."""
    config = write_config(tmp_path)
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "note", caption)
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    assert [post.caption for post in RECEIVED["recording"]] == [expected]


async def test_two_images_with_one_caption_are_ambiguous(
    tmp_path: Path, registry: Registry
) -> None:
    """`a.jpg` + `a.png` + `a.txt` cannot be paired: all three go to failed/, nothing is published."""
    config = write_config(tmp_path)
    async with running_daemon(config, registry):
        make_image(tmp_path / "inbox" / "a.jpg")
        make_image(tmp_path / "inbox" / "a.png", image_format="PNG")
        (tmp_path / "inbox" / "a.txt").write_text("which one?", encoding="utf-8")
        await wait_for(lambda: "a.result.json" in failed_names(tmp_path), what="failed/")
    assert failed_names(tmp_path) == ["a.jpg", "a.png", "a.result.json", "a.txt"]
    assert "ambiguous" in failed_reason(tmp_path, "a")
    assert RECEIVED == {}


@pytest.mark.parametrize(
    ("stem", "image_name"),
    [
        pytest.param("A", "A.JPG", id="upper-case suffix"),
        pytest.param(
            "Été à la plage 🌅 2", "Été à la plage 🌅 2.jpeg", id="spaces, accents, emoji"
        ),
        pytest.param("drawing", "drawing.png", id="png"),
        pytest.param("modern", "modern.webp", id="webp"),
    ],
)
async def test_valid_pairs_with_unusual_names_are_published(
    tmp_path: Path, registry: Registry, stem: str, image_name: str
) -> None:
    """Suffixes match case-insensitively and stems exactly, whatever characters they hold."""
    config = write_config(tmp_path)
    image_format = {".png": "PNG", ".webp": "WEBP"}.get(Path(image_name).suffix, "JPEG")
    async with running_daemon(config, registry):
        make_image(tmp_path / "inbox" / image_name, image_format=image_format)
        (tmp_path / "inbox" / f"{stem}.txt").write_text("hello", encoding="utf-8")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    assert [post.stem for post in RECEIVED["recording"]] == [stem]
    assert image_name in [p.name for p in archived(tmp_path)]


async def test_a_symlink_to_an_image_outside_the_inbox_is_refused(
    tmp_path: Path, registry: Registry
) -> None:
    """A symbolic link is never read or sent: it is moved to failed/ as a link, its target untouched."""
    outside = make_image(tmp_path / "private.jpg")
    before = outside.read_bytes()
    config = write_config(tmp_path)
    async with running_daemon(config, registry):
        os.symlink(outside, tmp_path / "inbox" / "sneaky.jpg")
        (tmp_path / "inbox" / "sneaky.txt").write_text("look", encoding="utf-8")
        await wait_for(lambda: "sneaky.result.json" in failed_names(tmp_path), what="failed/")
    assert RECEIVED == {}
    assert (tmp_path / "failed" / "sneaky.jpg").is_symlink()
    assert os.readlink(tmp_path / "failed" / "sneaky.jpg") == str(outside)
    assert outside.read_bytes() == before
    assert "symbolic link" in failed_reason(tmp_path, "sneaky")


async def test_a_sub_folder_in_the_inbox_is_left_alone(tmp_path: Path, registry: Registry) -> None:
    """Posts inside a sub-folder are not published (sub-folders are not part of the inbox)."""
    config = write_config(tmp_path)
    nested = tmp_path / "inbox" / "album"
    nested.mkdir(parents=True)
    async with running_daemon(config, registry):
        write_post(nested, "inside")
        write_post(tmp_path / "inbox", "outside")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
        await anyio.sleep(0.5)
    assert [post.stem for post in RECEIVED["recording"]] == ["outside"]
    assert sorted(p.name for p in nested.iterdir()) == ["inside.jpg", "inside.txt"]


async def test_a_caption_that_arrives_later_is_published_once_with_the_image(
    tmp_path: Path, registry: Registry
) -> None:
    """An image waits for its caption (here 5 s late) and is then published once, with it."""
    config = write_config(tmp_path)
    async with running_daemon(config, registry):
        make_image(tmp_path / "inbox" / "patient.jpg")
        await anyio.sleep(5)
        assert RECEIVED == {}
        (tmp_path / "inbox" / "patient.txt").write_text("Worth the wait", encoding="utf-8")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
        await anyio.sleep(0.5)
    assert [post.caption for post in RECEIVED["recording"]] == ["Worth the wait"]


async def test_an_image_written_in_chunks_is_published_once_and_complete(
    tmp_path: Path, registry: Registry
) -> None:
    """A slow copy (chunks over ~2.5 s, each pause shorter than settle_seconds) is read only when whole."""
    config = write_config(tmp_path, settle_seconds=1.0)
    content = jpeg_bytes((1200, 900))
    chunk = len(content) // 10 + 1
    async with running_daemon(config, registry):
        (tmp_path / "inbox" / "slow.txt").write_text("Slowly", encoding="utf-8")
        with (tmp_path / "inbox" / "slow.jpg").open("wb") as writer:
            for start in range(0, len(content), chunk):
                writer.write(content[start : start + chunk])
                writer.flush()
                await anyio.sleep(0.25)
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
        await anyio.sleep(0.5)
    assert len(RECEIVED["recording"]) == 1
    assert (tmp_path / "archive").joinpath(
        archived(tmp_path)[0].parent.name, "slow.jpg"
    ).read_bytes() == content


async def test_the_same_stem_archived_twice_in_a_day_gets_a_suffix(
    tmp_path: Path, registry: Registry
) -> None:
    """A second `beach` on one day is archived as `beach-1`; the first one's files are untouched."""
    config = write_config(tmp_path)
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "beach", "first")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the first post")
        first_caption = next(p for p in archived(tmp_path) if p.name == "beach.txt")
        write_post(tmp_path / "inbox", "beach", "second")
        await wait_for(lambda: len(archived(tmp_path)) == 6, what="the second post")
    names = [p.name for p in archived(tmp_path)]
    assert names == [
        "beach-1.jpg",
        "beach-1.result.json",
        "beach-1.txt",
        "beach.jpg",
        "beach.result.json",
        "beach.txt",
    ]
    assert first_caption.read_text(encoding="utf-8") == "first"
    assert first_caption.with_name("beach-1.txt").read_text(encoding="utf-8") == "second"


async def test_a_file_renamed_into_place_needs_no_settling(
    tmp_path: Path, registry: Registry
) -> None:
    """Files written as `*.part` and renamed are complete at once, even with a long settle time."""
    config = write_config(tmp_path, settle_seconds=60)
    inbox = tmp_path / "inbox"
    async with running_daemon(config, registry):
        make_image(inbox / "quick.jpg.part")
        (inbox / "quick.txt.part").write_text("no waiting", encoding="utf-8")
        os.rename(inbox / "quick.jpg.part", inbox / "quick.jpg")
        os.rename(inbox / "quick.txt.part", inbox / "quick.txt")
        await wait_for(lambda: len(archived(tmp_path)) == 3, within=10, what="the archive")
    assert [post.caption for post in RECEIVED["recording"]] == ["no waiting"]


async def test_a_file_written_in_place_waits_for_settle_seconds(
    tmp_path: Path, registry: Registry
) -> None:
    """Without a rename, a post is not read before its files have been still for settle_seconds."""
    config = write_config(tmp_path, settle_seconds=60)
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "unsettled")
        await anyio.sleep(1.5)
        assert RECEIVED == {}
    assert inbox_files(tmp_path) == [
        "unsettled.jpg",
        "unsettled.txt",
    ]


async def test_bad_front_matter_goes_to_failed(tmp_path: Path, registry: Registry) -> None:
    """An unknown front-matter key is an error for that post only."""
    config = write_config(tmp_path)
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "typo", "---\nplatfroms: [recording]\n---\nHello")
        write_post(tmp_path / "inbox", "fine", "Hello")
        await wait_for(lambda: "typo.result.json" in failed_names(tmp_path), what="failed/")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    assert "typo.txt: front matter: platfroms: unknown key" in failed_reason(tmp_path, "typo")
    assert [post.stem for post in RECEIVED["recording"]] == ["fine"]


def _make_fifo(path: Path) -> None:
    os.mkfifo(path)


@pytest.mark.parametrize(
    ("make", "kind"),
    [(Path.mkdir, "a directory"), (_make_fifo, "a FIFO (named pipe)")],
    ids=["directory", "fifo"],
)
@pytest.mark.parametrize("odd", ["image", "caption"])
async def test_a_directory_or_fifo_named_like_a_post_file_is_refused_never_opened(
    tmp_path: Path, registry: Registry, make: Any, kind: str, odd: str
) -> None:
    """x.jpg (or x.txt) that is a directory or a FIFO: the post goes to failed/ with a record
    saying what it is; the partner goes with it, the odd entry stays (a FIFO is never opened:
    that would block), and no platform sees the post."""
    config = write_config(tmp_path)
    inbox = tmp_path / "inbox"
    odd_name, partner = ("x.jpg", "x.txt") if odd == "image" else ("x.txt", "x.jpg")
    async with running_daemon(config, registry):
        make(inbox / odd_name)
        make_image(inbox / partner) if partner == "x.jpg" else (inbox / partner).write_text("c")
        await wait_for(lambda: "x.result.json" in failed_names(tmp_path), what="failed/")
    assert failed_reason(tmp_path, "x") == (
        f"{odd_name} is {kind}, not a file; dropcast never opens it and left it in the inbox"
    )
    assert failed_names(tmp_path) == sorted([partner, "x.result.json"])
    assert inbox_files(tmp_path) == [odd_name]
    assert RECEIVED == {}


async def test_a_directory_beside_a_whole_post_leaves_the_post_alone(
    tmp_path: Path, registry: Registry
) -> None:
    """A folder x.jpg beside a real x.png and x.txt is not needed for the pair: the post is
    published, the folder stays in the inbox, untouched."""
    config = write_config(tmp_path)
    inbox = tmp_path / "inbox"
    async with running_daemon(config, registry):
        (inbox / "x.jpg").mkdir()
        make_image(inbox / "x.png", image_format="PNG")
        (inbox / "x.txt").write_text("caption", encoding="utf-8")
        await wait_for(lambda: RECEIVED.get("recording"), what="the post published")
        await wait_for(lambda: inbox_files(tmp_path) == ["x.jpg"], what="the post filed")
    assert [post.stem for post in RECEIVED["recording"]] == ["x"]
    assert failed_names(tmp_path) == []


def _large_png(path: Path, width: int, height: int) -> Path:
    """A real, valid grey PNG of `width` x `height`, written row by row (never whole in memory)."""
    compressor = zlib.compressobj(1)
    row = b"\0" * (width + 1)  # filter byte 0, then black pixels
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


async def test_an_image_of_more_pixels_than_the_bound_is_refused_naming_its_size(
    tmp_path: Path, registry: Registry
) -> None:
    """A valid 12000x12000 PNG (144 Mpx, 140 KB on disk) is refused at intake with its size and
    the bound (50 Mpx by default); no platform sees it."""
    config = write_config(tmp_path)
    async with running_daemon(config, registry):
        _large_png(tmp_path / "inbox" / "huge.png", 12000, 12000)
        (tmp_path / "inbox" / "huge.txt").write_text("caption", encoding="utf-8")
        await wait_for(lambda: "huge.result.json" in failed_names(tmp_path), what="failed/")
    assert failed_reason(tmp_path, "huge") == (
        "huge.png is 12000x12000 = 144 Mpx, more than max_image_pixels (50 Mpx); "
        "scale it down to at most 50 Mpx"
    )
    assert RECEIVED == {}


_PEAK_RSS = """
import resource, sys
from pathlib import Path
from daemon.post import PostRejectedError, read_post
image, caption = Path(sys.argv[1]), Path(sys.argv[2])
read_post("huge", image.with_name("small.png"), caption)  # every decoder loaded
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_post("huge", image, caption)
except PostRejectedError:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_an_image_over_the_bound_is_refused_from_its_header_without_decoding(
    tmp_path: Path,
) -> None:
    """Refusing the 144 Mpx PNG takes under 20 MB of memory (decoding it takes 144 MB or more)."""
    image = _large_png(tmp_path / "huge.png", 12000, 12000)
    make_image(tmp_path / "small.png", image_format="PNG")
    caption = tmp_path / "huge.txt"
    caption.write_text("caption", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _PEAK_RSS, str(image), str(caption)],
        capture_output=True,
        check=True,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    growth_kib = int(done.stdout)
    assert growth_kib < 20_000, f"peak RSS grew by {growth_kib} KiB"


def test_pillow_refuses_to_decode_beyond_the_bound(tmp_path: Path) -> None:
    """Any code path opening a larger image meets Pillow's own bound, which is set to ours."""
    assert Image.MAX_IMAGE_PIXELS == DEFAULT_MAX_IMAGE_PIXELS


async def test_a_configured_pixel_bound_refuses_what_the_default_takes(
    tmp_path: Path, registry: Registry
) -> None:
    """With `max_image_pixels: 1000` a 64x48 image (3072 pixels) is refused, naming the bound."""
    config = write_config(tmp_path, max_image_pixels=1000)
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "small")
        await wait_for(lambda: "small.result.json" in failed_names(tmp_path), what="failed/")
    assert failed_reason(tmp_path, "small") == (
        "small.jpg is 64x48 = 0.00307 Mpx, more than max_image_pixels (0.001 Mpx); "
        "scale it down to at most 0.001 Mpx"
    )


def test_the_core_config_bounds_image_pixels_as_the_post_reader_does() -> None:
    """The default of `max_image_pixels` is the bound the post reader applies."""
    assert CoreSettings().max_image_pixels == DEFAULT_MAX_IMAGE_PIXELS == 50_000_000
