"""Crashes: dropcast killed with SIGKILL at chosen points, restarted, and checked for loss or repeats.

dropcast runs as a real process; its platforms are the gates in `tests/fakes/gates.py`,
registered through an entry point as a third party's would be.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).parent.parent
ENTRY_POINTS = """[dropcast.publishers]
gate = tests.fakes.gates:GatePublisher
gate_quick = tests.fakes.gates:QuickGatePublisher
gate_careful = tests.fakes.gates:CarefulGatePublisher
gate_tracking = tests.fakes.gates:TrackingGatePublisher
"""


class Dropcast:
    """`dropcast` run as a separate process on a config in `folder`, with the gate platforms."""

    def __init__(self, folder: Path, inbox: Path | None = None) -> None:
        self.folder = folder
        self.inbox = inbox or folder / "inbox"
        self.signals = folder / "signals"
        self.signals.mkdir(exist_ok=True)
        self.log = folder / "dropcast.log"
        site = folder / "site"
        (site / "dropcast_test_gates-0.dist-info").mkdir(parents=True, exist_ok=True)
        (site / "dropcast_test_gates-0.dist-info" / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: dropcast-test-gates\nVersion: 0\n", encoding="utf-8"
        )
        (site / "dropcast_test_gates-0.dist-info" / "entry_points.txt").write_text(
            ENTRY_POINTS, encoding="utf-8"
        )
        self.environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
        self.process: subprocess.Popen[bytes] | None = None
        self.command_prefix: list[str] = []  # e.g. setpriv, to run it with fewer privileges

    def configure(self, **platforms: dict[str, Any]) -> Path:
        """A config of the test platforms in `tests/fakes/gates.py`, each told the signals folder."""
        return self.write_config(
            {
                name: {"enabled": True, "folder": str(self.signals), **options}
                for name, options in platforms.items()
            }
        )

    def write_config(self, platforms: dict[str, Any], **core: Any) -> Path:
        """config.yaml with these `platforms`, quick timings for a crash test, and `core` keys."""
        settings = {
            "inbox": str(self.inbox),
            "settle_seconds": 0.2,
            "retry_delays": [0.5],
            "rescan_seconds": 0.5,
            "log": {"format": "json", "level": "debug"},
            **core,
            "platforms": platforms,
        }
        config = self.folder / "config.yaml"
        config.write_text(yaml.safe_dump(settings), encoding="utf-8")
        return config

    def start(self) -> None:
        started_before = (
            sum(e["event"] == "daemon.started" for e in self.events()) if self.log.exists() else 0
        )
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [
                    *self.command_prefix,
                    sys.executable,
                    "-m",
                    "daemon",
                    "--config",
                    str(self.folder / "config.yaml"),
                    "run",
                ],
                env=self.environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_for_event("daemon.started", started_before + 1)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(timeout=30) == 0

    def events(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def wait_for_event(self, name: str, count: int = 1) -> None:
        wait_until(
            lambda: sum(e["event"] == name for e in self.events()) >= count, f"{count} x {name}"
        )

    def received(self, platform: str) -> list[str]:
        path = self.signals / f"{platform}.received"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def release(self, platform: str) -> None:
        (self.signals / f"{platform}.release").touch()

    def ledger(self, query: str) -> list[tuple[Any, ...]]:
        database = self.folder / "state" / "dropcast.db"
        if not database.exists():
            return []
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            return connection.execute(query).fetchall()

    def archived(self) -> list[Path]:
        files = (self.folder / "archive").glob("*/*")
        return sorted(p for p in files if p.is_file() and not p.name.startswith(".dropcast-tmp-"))


def wait_until(condition: Callable[[], object], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def killed_after(folder: Path) -> Iterator[Dropcast]:
    """A `Dropcast` in `folder`, for a fixture to yield from: killed after, if still running."""
    runner = Dropcast(folder)
    yield runner
    if runner.process is not None and runner.process.poll() is None:
        runner.process.kill()
        runner.process.wait()


@pytest.fixture
def dropcast(tmp_path: Path) -> Iterator[Dropcast]:
    yield from killed_after(tmp_path)


def drop(inbox: Path, stem: str, size: tuple[int, int] = (64, 48)) -> bytes:
    """Drop a post with a noisy (so: large, incompressible) image; return the image's bytes."""
    inbox.mkdir(parents=True, exist_ok=True)
    Image.effect_noise(size, 80).convert("RGB").save(inbox / f"{stem}.jpg", "JPEG", quality=100)
    (inbox / f"{stem}.txt").write_text(f"caption of {stem}", encoding="utf-8")
    return (inbox / f"{stem}.jpg").read_bytes()


def record(runner: Dropcast, stem: str) -> dict[str, Any]:
    found = sorted((runner.folder / "archive").glob(f"*/{stem}.result.json"))
    assert len(found) == 1, found
    result: dict[str, Any] = json.loads(found[0].read_text(encoding="utf-8"))
    return result


def test_killed_between_two_platforms_sends_only_the_missing_one(dropcast: Dropcast) -> None:
    """Killed after one platform accepted and before the other answered: on restart only the other is sent."""
    dropcast.configure(gate_quick={}, gate={"hold": True})
    dropcast.start()
    drop(dropcast.inbox, "first")
    wait_until(lambda: (dropcast.signals / "gate.entered").exists(), "gate to be called")
    wait_until(
        lambda: dropcast.ledger(
            "SELECT 1 FROM deliveries WHERE platform = 'gate_quick' AND state = 'sent'"
        ),
        "gate_quick sent",
    )
    dropcast.kill()
    dropcast.release("gate")
    dropcast.start()
    dropcast.wait_for_event("post.published")
    dropcast.stop()
    assert dropcast.received("gate_quick") == ["first"]
    assert dropcast.received("gate") == ["first", "first"]  # unknown, and safe to send again
    assert record(dropcast, "first")["outcome"] == "published"
    assert [p.name for p in dropcast.archived()] == ["first.jpg", "first.result.json", "first.txt"]


def test_an_unknown_delivery_to_a_careful_platform_waits_for_retry(dropcast: Dropcast) -> None:
    """A platform that must not get a post twice is not re-sent after a crash; `status` shows it, `retry` sends it."""
    dropcast.configure(gate_quick={}, gate_careful={"hold": True})
    dropcast.start()
    drop(dropcast.inbox, "careful")
    wait_until(
        lambda: (dropcast.signals / "gate_careful.entered").exists(), "gate_careful to be called"
    )
    wait_until(
        lambda: dropcast.ledger(
            "SELECT 1 FROM deliveries WHERE platform = 'gate_quick' AND state = 'sent'"
        ),
        "gate_quick sent",
    )
    dropcast.kill()
    dropcast.release("gate_careful")
    dropcast.start()
    dropcast.wait_for_event("post.partial")
    assert dropcast.received("gate_careful") == ["careful"]
    careful = record(dropcast, "careful")["platforms"]["gate_careful"]
    assert (careful["state"], careful["to_do"]) == (
        "unknown",
        "unknown: check gate_careful, then `dropcast retry`",
    )
    status = run_command(dropcast, "status", "--failed", "--json")
    assert json.loads(status.stdout)[0]["platforms"]["gate_careful"]["state"] == "unknown"
    table = run_command(dropcast, "status", "--failed")
    assert "careful: unknown: check gate_careful, then `dropcast retry`" in table.stdout
    retried = run_command(dropcast, "retry", "careful")
    dropcast.stop()
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert retried.stdout.splitlines() == [
        "careful: gate_careful: answer unknown: sending again; what arrived last time will "
        "then be there twice",
        "careful: published (gate_careful: sent)",
    ]
    assert dropcast.received("gate_careful") == ["careful", "careful"]
    assert dropcast.received("gate_quick") == ["careful"]
    assert record(dropcast, "careful")["outcome"] == "published"


def run_command(runner: Dropcast, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "daemon",
            "--config",
            str(runner.folder / "config.yaml"),
            *arguments,
        ],
        env=runner.environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def shm_inbox() -> Iterator[Path]:
    """An inbox on another file system (tmpfs), so moves to the archive are copies."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm to put the inbox on another file system")
    folder = shm / f"dropcast-test-{os.getpid()}-{time.monotonic_ns()}"
    folder.mkdir()
    yield folder
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if not path.is_dir() else path.rmdir()
    folder.rmdir()


@pytest.mark.parametrize(
    "kill_when",
    [
        pytest.param("decided", id="between the ledger commit and the move"),
        pytest.param("copying", id="in the middle of a cross-device move"),
    ],
)
def test_killed_while_filing_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, shm_inbox: Path, kill_when: str
) -> None:
    """Killed after the outcome is committed, or mid-copy to another file system: the restart completes the move."""
    dropcast = Dropcast(tmp_path, inbox=shm_inbox)
    if os.stat(shm_inbox).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("/dev/shm is on the same file system as the archive")
    dropcast.configure(gate={})
    dropcast.start()
    original = drop(shm_inbox, "big", size=(2500, 2500))
    day = tmp_path / "archive"
    if kill_when == "decided":
        wait_until(
            lambda: dropcast.ledger("SELECT 1 FROM posts WHERE outcome IS NOT NULL"), "the decision"
        )
    else:
        wait_until(lambda: any(day.glob("*/.dropcast-tmp-*")), "the copy to start")
    dropcast.kill()
    dropcast.start()
    wait_until(
        lambda: dropcast.ledger("SELECT 1 FROM posts WHERE filed_at IS NOT NULL"), "the filing"
    )
    dropcast.stop()
    assert dropcast.received("gate") == ["big"]
    assert [p.name for p in dropcast.archived()] == ["big.jpg", "big.result.json", "big.txt"]
    assert next(p for p in dropcast.archived() if p.name == "big.jpg").read_bytes() == original
    assert list(day.glob("*/.dropcast-tmp-*")) == []  # the half-written copy was cleared away
    assert sorted(p.name for p in shm_inbox.iterdir() if not p.name.startswith(".")) == []


def test_a_second_daemon_on_the_same_inbox_exits_naming_the_lock(dropcast: Dropcast) -> None:
    """While one dropcast runs, another on its config exits 1, naming the lock and the running
    process, and leaves the first one running."""
    dropcast.configure(gate={})
    dropcast.start()
    assert dropcast.process is not None
    second = run_command(dropcast, "run")
    alive = dropcast.process.poll() is None
    dropcast.stop()
    assert second.returncode == 1
    state = dropcast.folder / "state"
    assert (
        f"another dropcast (pid {dropcast.process.pid}) is already running with the state "
        f"folder {state}" in second.stderr
    )
    assert str(state / "dropcast.lock") in second.stderr
    assert alive


def test_a_damaged_ledger_stops_dropcast_before_it_touches_the_inbox(dropcast: Dropcast) -> None:
    """A corrupted dropcast.db is a clear error (exit 1); the posts in the inbox stay where they are."""
    dropcast.configure(gate={})
    (dropcast.folder / "state").mkdir()
    (dropcast.folder / "state" / "dropcast.db").write_bytes(b"this is not a database" * 200)
    drop(dropcast.inbox, "kept")
    result = run_command(dropcast, "run")
    assert result.returncode == 1
    assert "the ledger database is damaged" in result.stderr
    assert "Nothing in the inbox was touched" in result.stderr
    assert sorted(p.name for p in dropcast.inbox.iterdir() if not p.name.startswith(".")) == [
        "kept.jpg",
        "kept.txt",
    ]
    assert dropcast.received("gate") == []


def test_retry_sends_a_partial_post_to_the_platform_that_failed(dropcast: Dropcast) -> None:
    """`dropcast retry STEM`, with the daemon running, sends only to the failed platform and updates the record in place."""
    dropcast.configure(gate_quick={}, gate={"fail": True})
    dropcast.start()
    drop(dropcast.inbox, "half")
    dropcast.wait_for_event("post.partial")
    before = record(dropcast, "half")
    assert before["outcome"] == "partial"
    assert before["platforms"]["gate"]["error"] == "gate is down"
    dropcast.configure(gate_quick={}, gate={})  # the platform is back
    retried = run_command(dropcast, "retry", "half")
    listed = run_command(dropcast, "status", "--json")
    dropcast.stop()
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.splitlines() == [
        "half: gate: refused last time: sending again what it did not accept",
        "half: published (gate: sent)",
    ]
    assert dropcast.received("gate") == ["half", "half"]
    assert dropcast.received("gate_quick") == ["half"]
    after = record(dropcast, "half")
    assert after["outcome"] == "published"
    assert after["platforms"]["gate"]["state"] == "sent"
    assert after["platforms"]["gate"]["attempts"] == 2
    assert after["platforms"]["gate_quick"] == before["platforms"]["gate_quick"]
    assert json.loads(listed.stdout)[0]["outcome"] == "published"


def test_retry_all_with_nothing_to_do_says_so(dropcast: Dropcast) -> None:
    """`dropcast retry --all` with every post published does nothing and exits 0."""
    dropcast.configure(gate={})
    result = run_command(dropcast, "retry", "--all")
    assert (result.returncode, result.stdout) == (
        0,
        "nothing to retry: no archived post needs it\n",
    )


def test_a_second_stop_signal_ends_the_grace_period(dropcast: Dropcast) -> None:
    """SIGTERM waits for the post in flight; a second SIGTERM stops at once, leaving the post in the inbox."""
    dropcast.configure(gate={"hold": True})
    dropcast.start()
    assert dropcast.process is not None
    drop(dropcast.inbox, "held")
    wait_until(lambda: (dropcast.signals / "gate.entered").exists(), "gate to be called")
    dropcast.process.send_signal(signal.SIGTERM)
    dropcast.wait_for_event("daemon.stopping")
    assert dropcast.process.poll() is None  # still giving the post its grace period
    dropcast.process.send_signal(signal.SIGTERM)
    assert dropcast.process.wait(timeout=10) == 0
    assert "daemon.stopping_now" in [event["event"] for event in dropcast.events()]
    assert sorted(p.name for p in dropcast.inbox.iterdir() if not p.name.startswith(".")) == [
        "held.jpg",
        "held.txt",
    ]


def kill_gate_tracking_at(dropcast: Dropcast, stem: str, hold: str, mark: str) -> None:
    """Post `stem` to gate_tracking (held by `hold`), kill at its `mark`, restart until published."""
    dropcast.configure(gate_tracking={hold: True})
    dropcast.start()
    drop(dropcast.inbox, stem)
    wait_until(
        lambda: (dropcast.signals / f"gate_tracking.{mark}").exists(), f"gate_tracking.{mark}"
    )
    dropcast.kill()
    dropcast.release("gate_tracking")
    dropcast.start()
    wait_until(  # published, or partial when the kill left the platform's answer unknown
        lambda: any(e["event"] in ("post.published", "post.partial") for e in dropcast.events()),
        "the post's summary",
    )
    dropcast.stop()


def test_killed_before_a_careful_platform_sent_anything_it_is_simply_sent_again(
    dropcast: Dropcast,
) -> None:
    """Killed while a platform that marks its destinations was still loading (nothing was
    sent): at the next start it is sent as if for the first time, not left unknown."""
    kill_gate_tracking_at(dropcast, "early", hold="hold", mark="entered")
    assert dropcast.received("gate_tracking") == ["early"]
    tracking = record(dropcast, "early")["platforms"]["gate_tracking"]
    assert (tracking["state"], tracking["attempts"]) == ("sent", 2)
    assert record(dropcast, "early")["outcome"] == "published"


def test_killed_after_a_careful_platform_began_sending_it_is_unknown(dropcast: Dropcast) -> None:
    """Killed after the destination was marked `sending`: it may have arrived, so it is
    unknown (the record names it) and not sent again without the owner."""
    kill_gate_tracking_at(dropcast, "midway", hold="hold_sending", mark="sending")
    assert dropcast.received("gate_tracking") == ["midway"]
    tracking = record(dropcast, "midway")["platforms"]["gate_tracking"]
    assert tracking["state"] == "unknown"
    assert tracking["destinations"]["feed"]["state"] == "unknown"
