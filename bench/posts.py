"""Dropping posts into the inbox (written, renamed into place, or copied in bulk) and waiting
for dropcast to take them away. Every post has its own caption: an identical image and
caption would be archived as a duplicate, by design, and never sent."""

from __future__ import annotations

import functools
import io
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

POLL_SECONDS = 0.001
# How often a burst's end is looked for: listing an inbox of thousands of files takes the
# fakes' process (and CPU) away from answering dropcast; 50 ms is < 0.1 ms per post of 1,000.
INBOX_POLL_SECONDS = 0.05
PAUSE_SECONDS = 0.2  # between posts dropped one by one, as a person would


@functools.cache
def image_bytes() -> bytes:
    """A small 64x48 JPEG, the same for every post."""
    buffer = io.BytesIO()
    Image.effect_noise((64, 48), 60).convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def caption(stem: str) -> str:
    return f"Benchmark post {stem}: a short caption of its own."


def write_post(inbox: Path, stem: str) -> float:
    """Write the image, then the caption; return the time of the last write."""
    (inbox / f"{stem}.jpg").write_bytes(image_bytes())
    (inbox / f"{stem}.txt").write_text(caption(stem), encoding="utf-8")
    return time.monotonic()


def rename_post(inbox: Path, stem: str) -> float:
    """The safe way: write `x.jpg.part` and `x.txt.part`, then rename both into place."""
    (inbox / f"{stem}.jpg.part").write_bytes(image_bytes())
    (inbox / f"{stem}.txt.part").write_text(caption(stem), encoding="utf-8")
    os.rename(inbox / f"{stem}.jpg.part", inbox / f"{stem}.jpg")
    os.rename(inbox / f"{stem}.txt.part", inbox / f"{stem}.txt")
    return time.monotonic()


def stage(folder: Path, stems: Sequence[str]) -> None:
    """Prepare posts in `folder` (outside the inbox) for a later `copy_in`."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        (folder / f"{stem}.jpg").write_bytes(image_bytes())
        (folder / f"{stem}.txt").write_text(caption(stem), encoding="utf-8")


def copy_in(staged: Path, inbox: Path, stems: Sequence[str]) -> None:
    """Copy staged posts into the inbox as fast as possible, as `cp staged/* inbox/` would."""
    for stem in stems:
        for suffix in (".jpg", ".txt"):
            shutil.copyfile(staged / f"{stem}{suffix}", inbox / f"{stem}{suffix}")


def pause() -> None:
    """Let dropcast finish with the last post (its record, the ledger) before the next one."""
    time.sleep(PAUSE_SECONDS)


def wait_gone(path: Path, within: float) -> float:
    """Wait until `path` has left the inbox (the post was filed); return when that was seen."""
    return wait_until(lambda: not os.path.lexists(path), f"{path.name} to be filed", within)


def wait_until(
    condition: Callable[[], object], what: str, within: float, poll: float = POLL_SECONDS
) -> float:
    """Poll `condition`; return the monotonic time it held, or raise TimeoutError."""
    deadline = time.monotonic() + within
    while True:
        now = time.monotonic()
        if condition():
            return now
        if now > deadline:
            raise TimeoutError(f"waited {within:g} s for {what}")
        time.sleep(poll)


def posts_left(inbox: Path) -> int:
    """How many of the inbox's files are posts' files (not dropcast's hidden lock)."""
    with os.scandir(inbox) as entries:
        return sum(1 for entry in entries if not entry.name.startswith("."))
