"""The image Telegram uploads: read once if small, else streamed in few worker-thread trips."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

from daemon.post import Post
from daemon.publishers.telegram import upload as telegram_upload
from daemon.publishers.telegram.legacy import post_key
from daemon.publishers.telegram.media import CHUNK_BYTES, prepare_media
from daemon.publishers.telegram.upload import StreamedFile, input_file, read_chunk
from daemon.registry import Registry
from tests.conftest import (
    archived,
    make_image,
    running_daemon,
    wait_for,
    write_config,
    write_post,
)
from tests.fakes.telegram_api import TOKEN, fake_telegram, telegram_publisher


def _open_descriptors_to(path: Path) -> int:
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if _target(fd) == str(path))


def _target(fd: Path) -> str:
    try:
        return os.readlink(fd)
    except OSError:
        return ""


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions run in worker threads, in order."""
    made: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        made.append(func.__name__)
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return made


async def _read_all(file: StreamedFile) -> list[bytes]:
    return [chunk async for chunk in file.read(bot=None)]  # type: ignore[arg-type]


async def test_a_file_of_up_to_one_chunk_takes_one_trip(tmp_path: Path, trips: list[str]) -> None:
    image = tmp_path / "photo.jpg"
    image.write_bytes(os.urandom(300_000))
    chunks = await _read_all(StreamedFile(image, "photo.jpg"))
    assert chunks == [image.read_bytes()]
    assert trips == ["read_chunk"]
    assert _open_descriptors_to(image) == 0


async def test_a_large_file_arrives_whole_in_chunks_and_is_closed(
    tmp_path: Path, trips: list[str]
) -> None:
    image = tmp_path / "photo.jpg"
    data = os.urandom(2_500)
    image.write_bytes(data)
    chunks = await _read_all(StreamedFile(image, "photo.jpg", chunk_size=1_000))
    assert [len(chunk) for chunk in chunks] == [1_000, 1_000, 500]
    assert b"".join(chunks) == data
    assert len(trips) == 3
    assert _open_descriptors_to(image) == 0


async def test_a_file_of_whole_chunks_ends_with_an_empty_read(tmp_path: Path) -> None:
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"x" * 2_000)
    chunks = await _read_all(StreamedFile(image, "photo.jpg", chunk_size=1_000))
    assert chunks == [b"x" * 1_000, b"x" * 1_000]


async def test_no_file_stays_open_between_chunks(tmp_path: Path) -> None:
    """An upload given up between two chunks leaves nothing to close."""
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"x" * 5_000)
    reader = StreamedFile(image, "photo.jpg", chunk_size=1_000).read(bot=None)  # type: ignore[arg-type]
    assert await reader.__anext__() == b"x" * 1_000
    assert _open_descriptors_to(image) == 0
    await reader.aclose()


async def test_an_upload_cancelled_during_a_slow_read_never_stalls_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiohttp cancels its body writer with a plain asyncio cancel (a time-out, an early answer)
    while a worker thread may be reading from a slow disk: the loop must not wait for that read,
    and the read must not leave the file open."""
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"x" * 3_000)
    slow_read_done = threading.Event()

    def slow_second_chunk(path: Path, offset: int, size: int, identity: Any) -> Any:
        if offset:
            time.sleep(1.0)  # a network share that takes its time
            try:
                return read_chunk(path, offset, size, identity)
            finally:
                slow_read_done.set()
        return read_chunk(path, offset, size, identity)

    monkeypatch.setattr(telegram_upload, "read_chunk", slow_second_chunk)
    gaps: list[float] = []

    async def tick() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    upload = asyncio.create_task(_read_all(StreamedFile(image, "photo.jpg", chunk_size=1_000)))
    await asyncio.sleep(0.3)  # the second chunk's read is under way in a worker thread
    upload.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await upload
    await asyncio.sleep(0.2)
    ticker.cancel()
    assert max(gaps) < 0.5
    assert await anyio.to_thread.run_sync(slow_read_done.wait, 5)
    assert _open_descriptors_to(image) == 0


async def test_a_file_replaced_between_chunks_is_refused(tmp_path: Path) -> None:
    """Never half the old photo and half the new one."""
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"x" * 2_500)
    reader = StreamedFile(image, "photo.jpg", chunk_size=1_000).read(bot=None)  # type: ignore[arg-type]
    assert await reader.__anext__() == b"x" * 1_000
    replacement = tmp_path / "new.jpg"
    replacement.write_bytes(b"y" * 2_500)
    os.replace(replacement, image)
    with pytest.raises(OSError, match="replaced while it was being uploaded"):
        await reader.__anext__()


async def test_a_retried_upload_reads_the_file_again(tmp_path: Path) -> None:
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"y" * 1_500)
    file = StreamedFile(image, "photo.jpg", chunk_size=1_000)
    assert await _read_all(file) == await _read_all(file) == [b"y" * 1_000, b"y" * 500]


async def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await _read_all(StreamedFile(tmp_path / "gone.jpg", "gone.jpg"))


async def test_a_small_photo_is_read_from_the_disk_once_for_every_chat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its size, its key and both chats' uploads come from one read of the file."""
    image = make_image(tmp_path / "sunset.jpg")
    caption_file = tmp_path / "sunset.txt"
    caption_file.write_text("Red sky", encoding="utf-8")
    post = Post("sunset", (image,), caption_file, "Red sky")
    expected = image.read_bytes()
    opened: list[str] = []
    real_open = io.open

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file) == str(image):
            opened.append(str(file))
        return real_open(file, *args, **kwargs)

    async with (
        fake_telegram() as fake,
        telegram_publisher(fake, tmp_path, chat_ids=["@channel", -1001234]) as publisher,
    ):
        monkeypatch.setattr(builtins, "open", counting_open)
        monkeypatch.setattr(io, "open", counting_open)
        result = await publisher.publish(post)
    assert result.ok, result.error
    assert [request.upload.data for request in fake.sent("sendPhoto")] == [expected] * 2
    assert len(opened) == 1


def test_a_post_key_is_what_earlier_versions_saved_progress_under(tmp_path: Path) -> None:
    """Progress saved before images were kept at hand is found again: the key of a post is
    SHA-256 over the parse mode, the caption and each image file's SHA-256, as it was."""
    small = make_image(tmp_path / "small.jpg")
    large = tmp_path / "large.jpg"
    large.write_bytes(small.read_bytes() + os.urandom(CHUNK_BYTES))
    images = (small, large)
    media = [prepare_media(image, "document") for image in images]
    assert media[0].data is not None
    assert media[1].data is None
    earlier = hashlib.sha256(b"HTML\0Red sky\0")
    for image in images:
        earlier.update(hashlib.sha256(image.read_bytes()).digest())
    assert post_key([item.sha256() for item in media], "Red sky", "HTML") == earlier.hexdigest()


def test_only_an_image_up_to_one_chunk_is_kept_in_memory(tmp_path: Path) -> None:
    small = make_image(tmp_path / "small.jpg")
    large = tmp_path / "large.bin.jpg"
    large.write_bytes(small.read_bytes() + b"\0" * CHUNK_BYTES)  # a JPEG with trailing bytes
    assert prepare_media(small, "document").data == small.read_bytes()
    assert prepare_media(large, "document").data is None


@pytest.mark.parametrize(
    ("stem", "sent_as"),
    [("line\nbreak", "line_break.jpg"), ("cr\rreturn", "cr_return.jpg")],
)
async def test_a_stem_with_a_line_break_reaches_telegram_under_a_name_it_can_take(
    tmp_path: Path, stem: str, sent_as: str
) -> None:
    """A real file named with a CR or LF is published by the daemon: the upload's name has `_`
    where the control character was (aiohttp refuses it in a header), the record keeps the name."""
    registry = Registry.discover(packages=("daemon.publishers",), entry_point_group=None)
    async with fake_telegram() as fake:
        platforms = {
            "telegram": {
                "enabled": True,
                "token": "${TELEGRAM_BOT_TOKEN}",
                "chat_ids": ["@channel"],
                "api_server": fake.url,
            }
        }
        # The first post imports aiogram (seconds on a slow machine) within its timeout.
        config = write_config(tmp_path, platforms, publish_timeout=50, max_attempts=1)
        async with running_daemon(config, registry, environ={"TELEGRAM_BOT_TOKEN": TOKEN}):
            image = write_post(tmp_path / "inbox", stem)
            original = image.read_bytes()
            await wait_for(lambda: len(archived(tmp_path)) == 3, within=40, what="the archive")
    assert [(r.upload.filename, r.upload.data) for r in fake.sent("sendPhoto")] == [
        (sent_as, original)
    ]
    record_file = next(p for p in archived(tmp_path) if p.name.endswith(".result.json"))
    record = json.loads(record_file.read_text(encoding="utf-8"))
    assert (record["post"], record["outcome"]) == (stem, "published")
    assert record_file.name == f"{stem}.result.json"


def test_every_upload_of_an_image_goes_under_a_sendable_name(tmp_path: Path) -> None:
    """Kept at hand, streamed or scaled, the upload's file name has no control character."""
    small = make_image(tmp_path / "a\nb.jpg")
    large = tmp_path / "c\rd.jpg"
    large.write_bytes(small.read_bytes() + b"\0" * CHUNK_BYTES)
    huge = make_image(tmp_path / "e\x1bf.png", size=(9000, 2000), image_format="PNG")
    names = [
        input_file(prepare_media(small, "document")).filename,
        input_file(prepare_media(large, "document")).filename,
        input_file(prepare_media(huge, "scale")).filename,
    ]
    assert names == ["a_b.jpg", "c_d.jpg", "e_f.jpg"]
