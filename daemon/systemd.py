"""A small sd_notify client: tell systemd we are ready, reloading, stopping, and still alive.

With `Type=notify`, systemd passes a datagram socket in `$NOTIFY_SOCKET` (a path, or an
abstract address written `@name`). Without it, every call here does nothing, so the same
daemon runs under systemd, in Docker or in a terminal.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger("dropcast.systemd")


class SystemdNotifier:
    """Sends state lines to systemd's notify socket, if there is one."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.address = _socket_address(environ.get("NOTIFY_SOCKET", ""))
        self.watchdog_seconds = _watchdog_seconds(environ)
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")

    def stopping(self) -> None:
        self.notify("STOPPING=1", "STATUS=stopping")

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def notify(self, *lines: str) -> None:
        """Send `lines` as one datagram; a full or vanished socket is logged, never raised."""
        if self.address is None:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(lines).encode(), self.address)
        except OSError as error:
            log.warning("systemd.notify_failed", error=str(error))

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _socket_address(value: str) -> str | None:
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]  # the abstract namespace
    return value


def _watchdog_seconds(environ: Mapping[str, str]) -> float | None:
    """systemd's watchdog timeout, if it is meant for this process."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000
