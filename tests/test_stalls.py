"""A post held up by its surroundings (a folder dropcast may not write, a full disk) moves on
at the next look once the cause is gone: no restart, one log line per cause, nothing twice.

dropcast runs as a process (the gate platforms of `tests/test_crash.py`); as root it is run
without CAP_DAC_OVERRIDE (`setpriv`) so that folder permissions bind it, and a full disk is a
real tmpfs of 1 MiB.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.stalls import is_environmental
from tests.test_crash import Dropcast, drop, wait_until

NO_OVERRIDE = ["setpriv", "--inh-caps=-dac_override", "--bounding-set=-dac_override", "--"]


def _stalls(dropcast: Dropcast) -> list[dict[str, object]]:
    return [e for e in dropcast.events() if e["event"] in ("post.stalled", "post.crashed")]


def _archived(dropcast: Dropcast) -> list[str]:
    return sorted(p.name for p in (dropcast.folder / "archive").glob("*/*"))


@pytest.fixture
def unprivileged(tmp_path: Path) -> Iterator[Dropcast]:
    """A dropcast that folder permissions bind, even when the tests run as root."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): permissions would not bind")
    runner = Dropcast(tmp_path)
    if os.geteuid() == 0:
        runner.command_prefix = NO_OVERRIDE
    yield runner
    (tmp_path / "archive").chmod(0o755)
    runner.stop()


def test_an_archive_it_may_not_write_holds_posts_until_it_may(unprivileged: Dropcast) -> None:
    """The day's folder cannot be made (EACCES): both posts wait in the inbox, one line says
    why, and once the folder is writable again both are filed, each sent once."""
    dropcast = unprivileged
    dropcast.configure(gate={})
    archive = dropcast.folder / "archive"
    archive.mkdir()
    archive.chmod(0o555)
    dropcast.start()
    drop(dropcast.inbox, "first")
    drop(dropcast.inbox, "second")
    wait_until(lambda: len(dropcast.received("gate")) == 2, "both posts sent")
    wait_until(lambda: _stalls(dropcast), "the stall to be reported")
    archive.chmod(0o755)
    wait_until(lambda: len(_archived(dropcast)) == 6, "both posts filed, without a restart")
    dropcast.wait_for_event("post.published", 2)
    [stall] = _stalls(dropcast)
    assert stall["event"] == "post.stalled"
    assert str(archive) in str(stall["where"])
    assert stall["cause"] == os.strerror(errno.EACCES)
    assert sorted(dropcast.received("gate")) == ["first", "second"]
    assert [e["event"] for e in dropcast.events()].count("post.unstalled") == 1


@pytest.fixture
def full_state(tmp_path: Path) -> Iterator[tuple[Dropcast, Path]]:
    """A dropcast whose state folder (the ledger) is a 1 MiB tmpfs; the Path fills it."""
    state = tmp_path / "state"
    state.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(state)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    runner = Dropcast(tmp_path)
    try:
        yield runner, state / "filler"
    finally:
        runner.stop()
        subprocess.run(["umount", "-l", str(state)], check=False)


def _fill(path: Path) -> None:
    """Write until the file system is full."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    written = 1
    try:
        while written:
            try:
                written = os.write(descriptor, b"\0" * 4096)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                written = 0
    finally:
        os.close(descriptor)


def test_a_full_disk_under_the_ledger_holds_posts_until_there_is_room(
    full_state: tuple[Dropcast, Path],
) -> None:
    """The ledger cannot commit ('database or disk is full'): the posts wait in the inbox, one
    line says why, and once there is room they are published and filed, each sent once."""
    dropcast, filler = full_state
    dropcast.configure(gate={})
    dropcast.start()
    _fill(filler)
    for stem in ("first", "second", "third"):
        drop(dropcast.inbox, stem)
    wait_until(lambda: _stalls(dropcast), "the stall to be reported")
    filler.unlink()
    wait_until(lambda: len(_archived(dropcast)) == 9, "every post filed, without a restart")
    dropcast.wait_for_event("post.published", 3)
    stalls = _stalls(dropcast)
    assert {e["event"] for e in stalls} == {"post.stalled"}
    assert len(stalls) <= 2  # the ledger and, if it came first, a file in the state folder
    assert sorted(dropcast.received("gate")) == ["first", "second", "third"]


@pytest.mark.parametrize(
    ("error", "passes"),
    [
        (PermissionError(errno.EACCES, "Permission denied", "archive/2026-12-02"), True),
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OSError(errno.EROFS, "Read-only file system"), True),
        (sqlite3.OperationalError("database or disk is full"), True),
        (sqlite3.OperationalError("database is locked"), True),
        (OSError(errno.ENAMETOOLONG, "File name too long"), False),
        (FileNotFoundError(errno.ENOENT, "No such file or directory"), False),
        (sqlite3.OperationalError("no such column: tracked"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_the_machines_troubles_wait_for_the_next_look(
    error: BaseException, passes: bool
) -> None:
    """Space, permissions and a failing disk pass once fixed; anything else is a bug, which is
    reported as a crash with its traceback rather than retried at every look."""
    assert is_environmental(error) is passes
