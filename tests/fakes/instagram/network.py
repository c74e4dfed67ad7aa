"""Keeping Instagram tests fast and on this machine: no sleeps, no network, a silent server."""

from __future__ import annotations

import socket
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class Sleeps:
    """The sleeps instagrapi asked for, in seconds (none of them is slept)."""

    seconds: list[float] = field(default_factory=list)


def skip_instagrapi_sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    """Make `time.sleep` inside instagrapi's modules (and only there) return at once, recording it."""
    import instagrapi  # noqa: F401 - loads every module that sleeps

    sleeps = Sleeps()
    shim = types.SimpleNamespace(
        **{name: getattr(time, name) for name in dir(time) if not name.startswith("__")}
    )
    shim.sleep = sleeps.seconds.append
    for name, module in list(sys.modules.items()):
        if name.startswith("instagrapi") and getattr(module, "time", None) is time:
            monkeypatch.setattr(module, "time", shim)
    return sleeps


_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def refuse_network(monkeypatch: pytest.MonkeyPatch, *, allow_curl: bool = False) -> None:
    """Fail any Python-level look-up of a non-local host, and (unless allowed) curl's transport.

    `responses` only intercepts requests' own HTTPAdapter; instagrapi's curl and uTLS
    transports override `send` and would reach the real network, so they are refused too.
    """
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host  # anyio asks with bytes
        if name not in _LOCAL_HOSTS:
            raise AssertionError(f"a test tried to reach {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    if not allow_curl:
        from instagrapi import transports

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the curl transport would bypass responses")

        monkeypatch.setattr(transports._CurlH2Adapter, "send", refuse)


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never sends a byte."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self._held:
            connection.close()
        self._listener.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            self._held.append(connection)  # held open, never answered
