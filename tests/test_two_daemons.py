"""Never two daemons: a second dropcast exits naming the first, whatever became of the lock files.

Both run as real processes (`tests/test_crash.py`'s harness, with the gate platforms).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daemon.lock import RetryLock, StateLock
from tests.test_crash import Dropcast, drop, dropcast, run_command, wait_until

__all__ = ["dropcast"]  # the fixture


def remove_inbox_lock(runner: Dropcast) -> None:
    (runner.inbox / ".dropcast.lock").unlink()


def wipe_inbox(runner: Dropcast) -> None:
    shutil.rmtree(runner.inbox)
    runner.inbox.mkdir()


def remove_both_lock_files(runner: Dropcast) -> None:
    (runner.folder / "state" / "dropcast.lock").unlink()
    (runner.inbox / ".dropcast.lock").unlink()


BREAKS: dict[str, Callable[[Dropcast], None]] = {
    "rm inbox/.dropcast.lock": remove_inbox_lock,
    "rm -rf inbox && mkdir inbox": wipe_inbox,
    "rm state/dropcast.lock inbox/.dropcast.lock": remove_both_lock_files,
}


@pytest.fixture
def second() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Second daemons started by a test; any still running at the end is killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def start_second(runner: Dropcast, started: list[subprocess.Popen[bytes]]) -> tuple[int, str]:
    """Start another `dropcast run` on `runner`'s config; its exit code and stderr, once it exits."""
    command = [sys.executable, "-m", "daemon", "--config", str(runner.folder / "config.yaml")]
    process = subprocess.Popen(
        [*command, "run"], env=runner.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    started.append(process)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        return -1, "the second dropcast was still running after 30 s"
    return process.returncode, stderr.decode()


def pid_in(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip() if path.exists() else ""


@pytest.mark.parametrize("break_locks", BREAKS.values(), ids=BREAKS.keys())
def test_a_second_daemon_exits_naming_the_first_whatever_happened_to_the_lock_files(
    dropcast: Dropcast,
    second: list[subprocess.Popen[bytes]],
    break_locks: Callable[[Dropcast], None],
) -> None:
    """With its lock files deleted (or the inbox wiped), the running dropcast still keeps a second one out."""
    dropcast.configure(gate={})
    dropcast.start()
    assert dropcast.process is not None
    first = str(dropcast.process.pid)
    break_locks(dropcast)
    code, stderr = start_second(dropcast, second)
    assert code == 1, stderr
    assert f"another dropcast (pid {first}) is already running" in stderr
    # The first one makes its lock files again at its next look at the inbox.
    wait_until(lambda: pid_in(dropcast.inbox / ".dropcast.lock") == first, "the inbox lock")
    wait_until(lambda: pid_in(dropcast.folder / "state" / "dropcast.lock") == first, "the pid")
    assert dropcast.process.poll() is None
    dropcast.stop()


def test_ten_posts_with_a_second_daemon_attempted_are_each_delivered_once(
    dropcast: Dropcast, second: list[subprocess.Popen[bytes]]
) -> None:
    """The inbox lock deleted and a second dropcast started: every post reaches the platform once."""
    dropcast.configure(gate={"delay": 0.2})
    dropcast.start()
    remove_inbox_lock(dropcast)
    code, stderr = start_second(dropcast, second)
    stems = [f"post{number}" for number in range(10)]
    for stem in stems:
        drop(dropcast.inbox, stem)
    wait_until(
        lambda: len(list(dropcast.folder.glob("archive/*/*.result.json"))) >= 10,
        "ten records",
        within=60,
    )
    dropcast.stop()
    assert sorted(dropcast.received("gate")) == sorted(stems)
    assert code == 1, stderr


def test_a_second_retry_exits_naming_the_first(dropcast: Dropcast) -> None:
    """`dropcast retry` while another retry runs exits 1 naming it, and sends nothing."""
    dropcast.configure(gate={})
    (dropcast.folder / "state").mkdir()
    with RetryLock(dropcast.folder / "state"):
        result = run_command(dropcast, "retry", "--all")
    assert result.returncode == 1
    lock = dropcast.folder / "state" / "retry.lock"
    assert (
        f"another dropcast retry (pid {os.getpid()}) is running with the state "
        f"folder {lock.parent} (it holds the lock {lock}): wait for it to finish" in result.stderr
    )


def test_a_stopping_dropcast_leaves_a_pid_file_that_names_another(tmp_path: Path) -> None:
    """After its lock was taken over, the pid file names the other dropcast: it stays."""
    with StateLock(tmp_path) as lock:
        lock.pid_path.write_text("99999\n", encoding="utf-8")
    assert (tmp_path / "dropcast.lock").read_text(encoding="utf-8") == "99999\n"
    with StateLock(tmp_path):
        pass
    assert not (tmp_path / "dropcast.lock").exists()  # its own is removed
