"""The image Telegram uploads: read once if small, else streamed in few worker-thread trips."""

from __future__ import annotations

import builtins
import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

from daemon.post import Post
from daemon.publishers._telegram_media import CHUNK_BYTES, Media, prepare_media
from daemon.publishers._telegram_upload import StreamedFile
from tests.conftest import make_image
from tests.fakes.telegram_api import fake_telegram, telegram_publisher


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


async def test_a_small_file_is_read_and_closed_in_one_trip(
    tmp_path: Path, trips: list[str]
) -> None:
    image = tmp_path / "photo.jpg"
    image.write_bytes(os.urandom(300_000))
    chunks = await _read_all(StreamedFile(image, "photo.jpg"))
    assert chunks == [image.read_bytes()]
    assert trips == ["_open_and_read"]
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
    assert _open_descriptors_to(image) == 0


async def test_an_upload_stopped_part_way_closes_the_file(tmp_path: Path) -> None:
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"x" * 5_000)
    reader = StreamedFile(image, "photo.jpg", chunk_size=1_000).read(bot=None)  # type: ignore[arg-type]
    assert await reader.__anext__() == b"x" * 1_000
    assert _open_descriptors_to(image) == 1
    await reader.aclose()
    assert _open_descriptors_to(image) == 0


async def test_a_retried_upload_reads_the_file_again(tmp_path: Path) -> None:
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"y" * 1_500)
    file = StreamedFile(image, "photo.jpg", chunk_size=1_000)
    assert await _read_all(file) == await _read_all(file) == [b"y" * 1_000, b"y" * 500]


async def test_a_missing_file_raises_and_leaves_nothing_open(tmp_path: Path) -> None:
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


def test_the_key_of_an_image_is_the_same_whether_its_bytes_are_at_hand_or_not(
    tmp_path: Path,
) -> None:
    """Progress saved for a post is found again, however its image was read."""
    image = make_image(tmp_path / "sunset.jpg")
    at_hand = Media(image, as_photo=True, data=image.read_bytes())
    assert at_hand.sha256() == Media(image, as_photo=True).sha256()
    assert at_hand.sha256() == hashlib.sha256(image.read_bytes()).digest()


def test_only_an_image_up_to_one_chunk_is_kept_in_memory(tmp_path: Path) -> None:
    small = make_image(tmp_path / "small.jpg")
    large = tmp_path / "large.bin.jpg"
    large.write_bytes(small.read_bytes() + b"\0" * CHUNK_BYTES)  # a JPEG with trailing bytes
    assert prepare_media(small, "document").data == small.read_bytes()
    assert prepare_media(large, "document").data is None
