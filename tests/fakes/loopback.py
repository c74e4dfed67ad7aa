"""Serving a fake platform's aiohttp app on 127.0.0.1, on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` for the duration of the block; yields its base URL, http://127.0.0.1:<port>."""
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)  # its log holds tokens
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
