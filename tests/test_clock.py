"""A wall clock stepped back (NTP at boot, a dead RTC battery) delays no retry by the step.

dropcast runs as a process under libfaketime (Debian's `faketime`), whose wall clock the test
moves while it runs; the monotonic clock is left alone, as the kernel's is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from daemon.retry import FORGET_DUE_SECONDS, RETRY_JITTER, PostBackoff
from tests.test_crash import Dropcast, drop, wait_until

DELAYS = (3.0, 10.0)  # a post's configured retry_delays

# Debian puts it under the architecture's triplet (x86_64-linux-gnu, aarch64-linux-gnu, ...).
LIBFAKETIME = next(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"), Path("libfaketime"))


@pytest.fixture
def stepped(tmp_path: Path) -> Iterator[tuple[Dropcast, Path]]:
    """A dropcast whose wall clock is the offset in the returned file (`+0` at first)."""
    if not LIBFAKETIME.exists():
        pytest.skip(f"libfaketime is not installed ({LIBFAKETIME}): apt-get install faketime")
    offset = tmp_path / "clock-offset"
    offset.write_text("+0\n")
    runner = Dropcast(tmp_path)
    runner.environ.update(
        LD_PRELOAD=str(LIBFAKETIME),
        FAKETIME_TIMESTAMP_FILE=str(offset),
        FAKETIME_NO_CACHE="1",
        FAKETIME_DONT_FAKE_MONOTONIC="1",
    )
    config = runner.configure(gate={"fail": True})
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    # Long enough that the step surely comes while the post waits; rescans keep looking.
    settings.update(retry_delays=[3], max_attempts=3)
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    yield runner, offset
    runner.stop()


def _back_a_day(offset: Path) -> None:
    offset.write_text("-1d\n")


def _first_attempt_failed(dropcast: Dropcast) -> None:
    """Start dropcast, drop the post `late` and wait for its first attempt (the gate fails it)."""
    dropcast.start()
    drop(dropcast.inbox, "late")
    wait_until(lambda: dropcast.received("gate") == ["late"], "the first attempt")


def test_a_backward_step_while_waiting_delays_the_retry_by_nothing(
    stepped: tuple[Dropcast, Path],
) -> None:
    """The clock goes back a day after the first attempt failed: the retry comes on time."""
    dropcast, offset = stepped
    _first_attempt_failed(dropcast)
    _back_a_day(offset)
    wait_until(lambda: len(dropcast.received("gate")) == 2, "the retry", within=30)


def test_after_a_restart_a_wait_is_capped_at_the_configured_delay(
    stepped: tuple[Dropcast, Path],
) -> None:
    """Restarted with the clock a day behind, the post waits at most its delay, not a day."""
    dropcast, offset = stepped
    _first_attempt_failed(dropcast)
    dropcast.stop()
    _back_a_day(offset)
    dropcast.start()
    wait_until(lambda: len(dropcast.received("gate")) == 2, "the retry", within=30)


class TestPostBackoff:
    async def test_a_wait_that_ended_long_ago_is_forgotten(self) -> None:
        """The backoff of a post that left the inbox while it waited does not stay in memory."""
        backoff = PostBackoff()
        backoff.wait(1, -FORGET_DUE_SECONDS - 1)  # its post left the inbox a day ago
        backoff.wait(2, 5)
        assert len(backoff) == 1
        assert backoff.left(1, None, DELAYS) == 0.0  # nothing stored: it may go at once

    async def test_a_wait_still_running_is_kept(self) -> None:
        """A wait that has not ended survives the next post's wait."""
        backoff = PostBackoff()
        backoff.wait(1, 5)
        backoff.wait(2, 5)
        assert 4 < backoff.left(1, None, DELAYS) <= 5

    async def test_after_a_restart_the_stored_time_is_capped_at_the_longest_delay(self) -> None:
        """A time stored a day ahead (the clock stepped back since) waits at most the delay + jitter."""
        backoff = PostBackoff()
        left = backoff.left(1, time.time() + 86_400, DELAYS)
        assert left == pytest.approx(max(DELAYS) * (1 + RETRY_JITTER), abs=0.5)

    async def test_a_cleared_post_waits_no_more(self) -> None:
        """A post being filed leaves the backoff."""
        backoff = PostBackoff()
        backoff.wait(1, 5)
        backoff.clear(1)
        assert (len(backoff), backoff.left(1, None, DELAYS)) == (0, 0.0)
