"""Serving a registry as Prometheus text over HTTP, on threads of its own.

prometheus_client's server answers each scrape in a thread, so a scrape never waits for the
event loop, nor the loop for a scrape. Binding (which may look a name up) and stopping
(which waits for the server's poll) run in a worker thread too.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

import anyio
import anyio.to_thread
from prometheus_client import CollectorRegistry, start_http_server

from daemon.metrics.settings import ListenAddress


class MetricsServer:
    """A listening metrics server; `stop` frees its port for the next one."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @classmethod
    async def start(cls, address: ListenAddress, registry: CollectorRegistry) -> MetricsServer:
        """Listen on `address`, or raise `OSError` (the port is taken, the host is not ours)."""
        # Shielded: a server bound while its starter was cancelled would never be stopped.
        with anyio.CancelScope(shield=True):
            server, thread = await anyio.to_thread.run_sync(
                lambda: start_http_server(address.port, address.host, registry)
            )
        return cls(server, thread)

    async def stop(self) -> None:
        with anyio.CancelScope(shield=True):  # also when the daemon stops: the port is freed
            await anyio.to_thread.run_sync(self._close)

    def _close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
