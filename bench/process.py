"""The real daemon as a separate process: `python -m daemon --config ... run`.

The bench binds the systemd notify socket, so it knows when dropcast said READY=1, and
reads the process's CPU time and resident memory from /proc. Extra platforms (the gate of
`tests/fakes/gates.py`) are registered through an entry point, as a third party's would be.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINTS = "[dropcast.publishers]\ngate = tests.fakes.gates:GatePublisher\n"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class DaemonError(Exception):
    """Raised when dropcast exits or does not get ready; the message ends with its log."""


class DaemonProcess:
    """dropcast on `config` in `folder`, from start to READY=1 to SIGTERM; a context manager."""

    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        self.folder = folder
        self.config_path = folder / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.inbox = folder / str(config["inbox"])
        self.log = folder / "dropcast.log"
        self.started_at = self.ready_at = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._notify: socket.socket | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def startup_seconds(self) -> float:
        """From just before the process was started to the arrival of READY=1."""
        return self.ready_at - self.started_at

    def __enter__(self) -> DaemonProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, within: float = 60.0) -> None:
        """Start dropcast and wait for READY=1."""
        environment = {**os.environ, **_environment(self.folder)}
        notify = self.folder / "notify.sock"
        notify.unlink(missing_ok=True)
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(notify))
        with self.log.open("ab") as log:
            self.started_at = time.monotonic()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "daemon", "--config", str(self.config_path), "run"],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
            )
        try:
            self.ready_at = self._wait_for_ready(within)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM, and wait for a clean exit."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._notify is not None:
            self._notify.close()
            self._notify = None

    def cpu_seconds(self) -> float:
        """User and system CPU time the process (all its threads) has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_mb(self) -> float:
        """Resident memory now, in MB (10^6 bytes)."""
        return rss_mb(self.pid)

    def check_alive(self) -> None:
        if self._process is None or self._process.poll() is not None:
            raise DaemonError(f"dropcast exited\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def _wait_for_ready(self, within: float) -> float:
        assert self._notify is not None
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            self._notify.settimeout(min(left, 0.5))
            try:
                message = self._notify.recv(4096).decode()
            except TimeoutError:
                self.check_alive()
                continue
            if "READY=1" in message.split("\n"):
                return time.monotonic()
        raise DaemonError(f"no READY=1 within {within:g} s\n{self.log_tail()}")


def rss_mb(pid: int) -> float:
    """The resident memory of process `pid`, in MB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for process {pid}")


def _environment(folder: Path) -> dict[str, str]:
    """PYTHONPATH with the gate's entry point and the repository; the notify socket."""
    site = folder / "site"
    info = site / "dropcast_bench_gates-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: dropcast-bench-gates\nVersion: 0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    return {
        "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
        "NOTIFY_SOCKET": str(folder / "notify.sock"),
    }
