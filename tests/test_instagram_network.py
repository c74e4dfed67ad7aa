"""Real network timeouts: a server that never answers fails the attempt within request_timeout.

instagrapi sets no timeout on its HTTP requests. These tests point the publisher, through
its `proxy` setting, at a local TCP server that accepts connections and never says a word,
and measure how long the attempt takes. `responses` is not active here (it would answer
before any socket is opened); the look-up of any host but 127.0.0.1 is refused, so nothing
can leave the machine even if the proxy were ignored.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.instagram import (
    FakeInstagram,
    fake_instagram,
    instagram_publisher,
    make_post,
)
from tests.fakes.instagram.network import (
    SilentServer,
    refuse_network,
    skip_instagrapi_sleeps,
)

REQUEST_TIMEOUT = 0.5


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


@pytest.mark.parametrize("transport", ["requests", "curl"])
async def test_a_silent_server_fails_the_attempt_within_request_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent: SilentServer, transport: str
) -> None:
    """With the default curl transport and with requests, a server that never answers fails in time."""
    refuse_network(monkeypatch, allow_curl=True)
    skip_instagrapi_sleeps(monkeypatch)
    publisher = instagram_publisher(
        tmp_path / "state", transport=transport, proxy=silent.url, request_timeout=REQUEST_TIMEOUT
    )
    started = time.monotonic()
    result = await publisher.publish(make_post(tmp_path))
    elapsed = time.monotonic() - started
    await publisher.close()
    assert silent.accepted == 1  # it did reach the silent server, and only once
    assert REQUEST_TIMEOUT <= elapsed < REQUEST_TIMEOUT + 1.0
    assert result.error == (
        "Instagram did not answer within request_timeout (0.5 s); dropcast tries again later "
        "(check the network or the proxy if it repeats)"
    )


async def test_every_request_carries_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of instagrapi's requests (login, password key, upload, configure) has our timeout."""
    refuse_network(monkeypatch)
    skip_instagrapi_sleeps(monkeypatch)
    fake: FakeInstagram
    with fake_instagram() as fake:
        await instagram_publisher(tmp_path / "state", request_timeout=7).publish(
            make_post(tmp_path)
        )
    timeouts = [request.req_kwargs["timeout"] for _, request in fake.calls]  # type: ignore[attr-defined]
    assert len(timeouts) == 10  # eight for the login, the upload, the configure
    assert set(timeouts) == {7}


async def test_a_check_against_a_silent_server_fails_within_request_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent: SilentServer
) -> None:
    """`dropcast check --connect` does not hang on a server that never answers either."""
    from daemon.publishers.instagram.publisher import InstagramCheckError

    refuse_network(monkeypatch)
    skip_instagrapi_sleeps(monkeypatch)
    publisher = instagram_publisher(
        tmp_path / "state", proxy=silent.url, request_timeout=REQUEST_TIMEOUT
    )
    started = time.monotonic()
    with pytest.raises(InstagramCheckError, match="did not answer within request_timeout"):
        await publisher.check_connection()
    assert time.monotonic() - started < REQUEST_TIMEOUT + 1.0
