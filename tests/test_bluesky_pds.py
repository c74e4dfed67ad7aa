"""The reference PDS fixture itself: it runs, and its accounts log in with their app passwords."""

from __future__ import annotations

from atproto import AsyncClient

from tests.fakes.pds import PdsServer, pds

__all__ = ["pds"]


async def test_the_account_logs_in_with_its_app_password(pds: PdsServer) -> None:
    """alice.test's app password opens a session on the PDS, for alice's DID."""
    client = AsyncClient(pds.url)
    try:
        await client.login(pds.alice.handle, pds.alice.app_password, fetch_bsky_profile=False)
        assert client.export_session_string()
        resolved = await client.resolve_handle(pds.bob.handle)
    finally:
        await client.request.close()
    assert resolved.did == pds.bob.did
