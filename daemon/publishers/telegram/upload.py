"""An image for aiogram to upload: its bytes at hand, or streamed from disk in large chunks.

aiogram's own `FSInputFile` reads through aiofiles: one worker-thread trip to open the file,
one per 64 KiB and one to close it. Every trip hands work to a thread and back, which costs
about 0.2 ms of CPU on a small machine, so a 3 MB photo took some 50 trips. This file reads
1 MiB per trip, and no more than one chunk is in memory at a time. (An image of up to 1 MiB
is not streamed at all: `prepare_media` keeps the bytes it read.)

Each trip opens, reads and closes the file itself, so an upload cancelled part-way (a time-
out, or the server answering early) leaves no file open and nothing for the event loop to
close while a read may still be running. A file replaced between two chunks is refused
rather than sent half old, half new.

Imported only when Telegram sends an image (it imports aiogram).
"""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from aiogram.types import BufferedInputFile, InputFile

from daemon.publishers.telegram.media import CHUNK_BYTES, Media

if TYPE_CHECKING:
    from aiogram import Bot

FileIdentity = tuple[int, int]  # st_dev, st_ino


def input_file(media: Media) -> InputFile:
    """What aiogram uploads for `media`: the scaled JPEG or the bytes at hand, else the file."""
    if media.scaled is not None:
        return BufferedInputFile(media.scaled.data, filename=media.upload_name)
    if media.data is not None:
        return BufferedInputFile(media.data, filename=media.upload_name)
    return StreamedFile(media.path, filename=media.upload_name)


class StreamedFile(InputFile):
    """The file at `path`, uploaded as `filename`, read `chunk_size` bytes per worker-thread trip."""

    def __init__(self, path: Path, filename: str, chunk_size: int = CHUNK_BYTES) -> None:
        super().__init__(filename=filename, chunk_size=chunk_size)
        self.path = path

    async def read(self, bot: Bot) -> AsyncGenerator[bytes, None]:
        offset, identity = 0, None
        while True:
            chunk, identity = await anyio.to_thread.run_sync(
                read_chunk, self.path, offset, self.chunk_size, identity
            )
            if chunk:
                yield chunk
            if len(chunk) < self.chunk_size:
                return
            offset += len(chunk)


def read_chunk(
    path: Path, offset: int, size: int, identity: FileIdentity | None
) -> tuple[bytes, FileIdentity]:
    """Up to `size` bytes of `path` from `offset`, and which file they came from.

    Raises OSError if `identity` is given and `path` is now another file.
    """
    with path.open("rb") as file:
        info = os.fstat(file.fileno())
        now = (info.st_dev, info.st_ino)
        if identity is not None and now != identity:
            raise OSError(errno.ESTALE, "replaced while it was being uploaded", str(path))
        file.seek(offset)
        return file.read(size), now
