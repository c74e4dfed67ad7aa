"""One logged-in atproto `AsyncClient` per publisher, its session kept on disk between runs.

Bluesky limits logins (30 in 5 minutes, 300 a day, per account), so dropcast logs in once
and keeps the session (`export_session_string`: the handle, the DID and two tokens) in
`state/bluesky/session-<handle>`, readable by its owner only. A restart reuses it; the SDK
refreshes the tokens before they expire, and every refresh is saved. Only when the saved
session no longer works (revoked, expired) does dropcast log in again with the app password.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from daemon.private_file import write_private_file
from daemon.publishers.bluesky.settings import BlueskySettings

if TYPE_CHECKING:
    from atproto_client import AsyncClient

log = structlog.get_logger("dropcast.bluesky")


class BlueskySession:
    """The client, logged in on first use; `forget` drops a session the server refused."""

    def __init__(self, settings: BlueskySettings, state_dir: Path) -> None:
        self._settings = settings
        self.path = state_dir / "bluesky" / f"session-{settings.handle}"
        self._client: AsyncClient | None = None
        self._lock = anyio.Lock()

    async def client(self) -> AsyncClient:
        """The logged-in client: the saved session if it still works, else a new login."""
        async with self._lock:
            if self._client is None:
                self._client = await self._open()
            return self._client

    @property
    def did(self) -> str:
        """The account's DID (call `client` first)."""
        assert self._client is not None
        return str(self._client.me.did if self._client.me else self._client._session.did)

    def secrets(self) -> list[str]:
        """What must never be written anywhere but the session file: the password, the tokens."""
        found = [self._settings.app_password.get_secret_value()]
        session = self._client._session if self._client is not None else None
        if session is not None:
            found += [session.access_jwt, session.refresh_jwt]
        return found

    async def forget(self) -> None:
        """Drop the session (the server refused it): the next call logs in again."""
        async with self._lock:
            await self._close_client()
            await anyio.to_thread.run_sync(lambda: self.path.unlink(missing_ok=True))

    async def close(self) -> None:
        async with self._lock:
            await self._close_client()

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.request.close()

    async def _open(self) -> AsyncClient:
        from atproto_client import AsyncClient, SessionEvent
        from atproto_client.request import AsyncRequest

        client = AsyncClient(
            self._settings.service, request=AsyncRequest(timeout=self._settings.request_timeout)
        )

        async def save(event: Any, session: Any) -> None:
            if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
                await anyio.to_thread.run_sync(write_private_file, self.path, session.encode())

        client.on_session_change(save)
        try:
            if not await self._resume(client):
                await self._login(client)
        except BaseException:
            await client.request.close()
            raise
        return client

    async def _resume(self, client: AsyncClient) -> bool:
        """Whether the saved session (if any) still works for this account."""
        from atproto_client.exceptions import BadRequestError, UnauthorizedError

        saved = await anyio.to_thread.run_sync(_read, self.path)
        if saved is None or _handle_of(saved) != self._settings.handle:
            return False
        try:
            await client.login(session_string=saved, fetch_bsky_profile=False)
            await client.com.atproto.server.get_session()  # refreshes the tokens if due
        except (UnauthorizedError, BadRequestError) as error:  # revoked or expired
            log.info("session.expired", reason=type(error).__name__)
            return False
        log.info("session.resumed")
        return True

    async def _login(self, client: AsyncClient) -> None:
        settings = self._settings
        password = settings.app_password.get_secret_value()
        await client.login(settings.handle, password, fetch_bsky_profile=False)
        log.info("session.logged_in", handle=settings.handle)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _handle_of(session_string: str) -> str | None:
    """The handle a saved session is for, or None if the file is not a session."""
    from atproto_client import Session

    try:
        return str(Session.decode(session_string).handle)
    except ValueError:
        return None
