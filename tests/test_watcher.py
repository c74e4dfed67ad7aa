"""The watcher on real folders: what it reports, and how soon it stops when cancelled."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import aclosing
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from daemon.watcher import STEP_MS, Batch, watch_inbox


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """An inbox and a config file beside it, as the daemon watches them."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text("inbox: inbox\n", encoding="utf-8")
    return inbox, config


async def first_batch(
    folders: tuple[Path, Path], *changes: Callable[[], Coroutine[Any, Any, None]]
) -> Batch:
    """Watch the folders, make the `changes` (each in its own task), return the first batch."""
    inbox, config = folders
    async with (
        aclosing(watch_inbox(inbox, config, force_polling=False)) as batches,
        anyio.create_task_group() as group,
    ):
        for change in changes:
            group.start_soon(change)
        with anyio.fail_after(5):
            batch = await anext(batches)
        group.cancel_scope.cancel()
    return batch


async def test_a_file_written_into_the_inbox_is_reported(folders: tuple[Path, Path]) -> None:
    """A new file in the inbox comes out in a batch, not as renamed in."""
    inbox = folders[0]
    batch = await first_batch(folders, partial(_write_soon, inbox / "a.txt"))
    assert batch.paths == {inbox / "a.txt"}
    assert batch.renamed_in == frozenset()


async def test_a_file_renamed_into_place_is_reported_as_renamed_in(
    folders: tuple[Path, Path],
) -> None:
    """`x.jpg.part` renamed to `x.jpg` comes out with `x.jpg` renamed in."""
    inbox = folders[0]
    batch = await first_batch(folders, partial(_rename_soon, inbox / "x.jpg.part", inbox / "x.jpg"))
    assert inbox / "x.jpg" in batch.paths
    assert batch.renamed_in == {inbox / "x.jpg"}


async def test_other_files_beside_the_config_file_are_not_reported(
    folders: tuple[Path, Path],
) -> None:
    """A log file written beside the config is dropped; the config file's edit comes out."""
    config = folders[1]
    batch = await first_batch(
        folders,
        partial(_write_soon, config.parent / "dropcast.log"),
        partial(_write_soon, config, 0.6),
    )
    assert batch.paths == {config}


@pytest.mark.parametrize("polling", [False, True])
async def test_a_cancelled_watch_ends_within_a_step(
    folders: tuple[Path, Path], polling: bool
) -> None:
    """Cancelling an idle watch (on events, or polling) ends it within about one step."""
    inbox, config = folders
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(_consume, watch_inbox(inbox, config, force_polling=polling))
            await anyio.sleep(0.3)  # the thread is now waiting for events
            cancelled_at = time.monotonic()
            scope.cancel()
    assert time.monotonic() - cancelled_at < 5 * STEP_MS / 1000  # not a time-out's 1 s


async def test_the_watch_goes_on_after_a_quiet_spell(folders: tuple[Path, Path]) -> None:
    """A file written after more than a second without events is still reported."""
    inbox = folders[0]
    batch = await first_batch(folders, partial(_write_soon, inbox / "late.txt", 1.5))
    assert batch.paths == {inbox / "late.txt"}


async def test_the_watch_goes_on_after_a_batch(folders: tuple[Path, Path]) -> None:
    """A file written after the first batch comes out in a second batch of the same watch."""
    inbox, config = folders
    async with (
        aclosing(watch_inbox(inbox, config, force_polling=False)) as batches,
        anyio.create_task_group() as group,
    ):
        group.start_soon(_write_soon, inbox / "first.txt")
        with anyio.fail_after(5):
            await anext(batches)
            group.start_soon(_write_soon, inbox / "second.txt")
            batch = await anext(batches)
    assert batch.paths == {inbox / "second.txt"}


async def _consume(batches: AsyncIterator[Batch]) -> None:
    async for _ in batches:
        pass


async def _write_now(path: Path) -> None:
    path.write_text("hello", encoding="utf-8")


async def _write_soon(path: Path, delay: float = 0.2) -> None:
    await anyio.sleep(delay)
    path.write_text("hello", encoding="utf-8")


async def _rename_soon(temporary: Path, final: Path) -> None:
    await anyio.sleep(0.2)
    temporary.write_text("hello", encoding="utf-8")
    os.rename(temporary, final)


@pytest.mark.parametrize("polling", [False, True])
async def test_a_name_that_is_not_utf8_does_not_stop_the_watch(
    folders: tuple[Path, Path], polling: bool
) -> None:
    """watchfiles fails for good at `caf\\xe9.txt`: the watch starts again, asks for a full
    listing (an empty batch), says so once, and reports the files written after."""
    inbox, config = folders
    bad = Path(os.fsdecode(os.fsencode(inbox) + b"/caf\xe9.txt"))
    seen: list[Batch] = []
    with capture_logs() as logs:
        async with (
            aclosing(watch_inbox(inbox, config, force_polling=polling)) as batches,
            anyio.create_task_group() as group,
        ):
            group.start_soon(_write_soon, bad)
            with anyio.fail_after(30):
                async for batch in batches:
                    seen.append(batch)
                    if batch == Batch():  # a task's write comes after the new watch is made
                        group.start_soon(_write_now, inbox / "after.txt")
                    if inbox / "after.txt" in batch.paths:
                        break
            group.cancel_scope.cancel()
    assert Batch() in seen
    (restart,) = [entry for entry in logs if entry["event"] == "watcher.restarted"]
    assert "Unable to decode path" in restart["error"]
