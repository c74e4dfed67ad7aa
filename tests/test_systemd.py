"""systemd integration: the notify protocol spoken by a real `dropcast run` process."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from daemon.systemd import SystemdNotifier

WATCHDOG_USEC = 400_000  # systemd would restart us 0.4 s after a missed ping; we ping every 0.2 s


class NotifySocket:
    """What systemd listens on: a datagram socket; records each message with its arrival time."""

    def __init__(self, address: str) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(address)
        self.messages: list[tuple[float, str]] = []

    def receive_until(self, line: str, within: float = 20.0) -> list[str]:
        """Collect messages until one holds `line`; return the messages seen so far."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.socket.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.socket.recv(4096)
            except TimeoutError:
                break
            self.messages.append((time.monotonic(), data.decode()))
            if line in data.decode().split("\n"):
                return [message for _, message in self.messages]
        raise AssertionError(f"{line} never came; got {[m for _, m in self.messages]}")

    def listen_for(self, seconds: float) -> None:
        """Record every message that arrives in the next `seconds`, as it arrives."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.socket.settimeout(left)
            try:
                data = self.socket.recv(4096)
            except TimeoutError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def times_of(self, line: str) -> list[float]:
        return [at for at, message in self.messages if line in message.split("\n")]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[NotifySocket, str]]:
    listener = NotifySocket(str(tmp_path / "notify.sock"))
    yield listener, str(tmp_path / "notify.sock")
    listener.socket.close()


def start_dropcast(folder: Path, notify_address: str) -> subprocess.Popen[bytes]:
    config = folder / "config.yaml"
    config.write_text(
        yaml.safe_dump({"platforms": {"preview": {"enabled": True}}}), encoding="utf-8"
    )
    environ = {**os.environ, "NOTIFY_SOCKET": notify_address, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    return subprocess.Popen(
        [sys.executable, "-m", "daemon", "--config", str(config), "run"],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_the_daemon_speaks_the_notify_protocol(
    tmp_path: Path, notify_socket: tuple[NotifySocket, str]
) -> None:
    """READY with a status, watchdog pings at half of WATCHDOG_USEC, RELOADING on SIGHUP, STOPPING on SIGTERM."""
    listener, address = notify_socket
    with start_dropcast(tmp_path, address) as process:
        ready = listener.receive_until("READY=1")
        assert f"STATUS=watching {tmp_path / 'inbox'}, 1 platform enabled" in "\n".join(ready)
        listener.listen_for(1.5)
        process.send_signal(signal.SIGHUP)
        after_reload = listener.receive_until("RELOADING=1")
        assert any(line.startswith("MONOTONIC_USEC=") for line in after_reload[-1].split("\n"))
        listener.receive_until("READY=1")
        process.send_signal(signal.SIGTERM)
        listener.receive_until("STOPPING=1")
        assert process.wait(timeout=20) == 0
    ready_at = listener.times_of("READY=1")[0]
    pings = [at for at in listener.times_of("WATCHDOG=1") if ready_at < at < ready_at + 1.5]
    gaps = [later - earlier for earlier, later in itertools.pairwise(pings)]
    assert len(pings) >= 5
    # Half of 0.4 s is 0.2 s; a loaded machine may stretch a gap, so the median is what counts.
    assert 0.15 <= statistics.median(gaps) <= 0.3
    assert max(gaps) < WATCHDOG_USEC / 1_000_000


def test_an_abstract_socket_address_is_supported() -> None:
    """`@name` in NOTIFY_SOCKET means the abstract namespace, as systemd documents."""
    name = f"dropcast-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        listener.settimeout(5)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": f"@{name}"})
        notifier.ready("watching somewhere")
        notifier.close()
        assert listener.recv(4096) == b"READY=1\nSTATUS=watching somewhere"


def test_without_a_notify_socket_nothing_is_sent() -> None:
    """Outside systemd the notifier is disabled and every call is a no-op."""
    notifier = SystemdNotifier({})
    notifier.ready("x")
    notifier.watchdog()
    assert (notifier.enabled, notifier.watchdog_seconds) == (False, None)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_the_watchdog_applies_only_to_this_process(
    environ: dict[str, str], expected: float | None
) -> None:
    """WATCHDOG_USEC counts only when WATCHDOG_PID is unset or names this process."""
    assert SystemdNotifier(environ).watchdog_seconds == expected
