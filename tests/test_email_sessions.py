"""Posts on their way at the same time share one SMTP connection; none is left open after."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
import pytest

from daemon.publishers.email import EmailSettings
from daemon.publishers.email.smtp import SessionPool
from tests.fakes.smtp_server import FakeSMTPServer


def _payload(number: int) -> bytes:
    return f"Subject: post {number}\r\n\r\nBody of post {number}\r\n".encode()


async def _no_tls() -> ssl.SSLContext | None:
    return None


async def _nothing(accepted: tuple[str, ...]) -> None:
    pass


async def _send(pool: SessionPool, number: int) -> None:
    await pool.send(_payload(number), ["post@example.com"], _nothing)


@pytest.fixture
def server(free_tcp_port: int) -> Iterator[FakeSMTPServer]:
    with FakeSMTPServer(free_tcp_port) as running:
        yield running


@pytest.fixture
def pool(free_tcp_port: int) -> SessionPool:
    values: dict[str, Any] = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": free_tcp_port,
        "security": "none",
        "sender": "me@example.com",
        "recipients": ["post@example.com"],
        "timeout": 5,
    }
    return SessionPool(EmailSettings.model_validate(values), _no_tls)


async def _closed(server: FakeSMTPServer) -> None:
    with anyio.fail_after(5):
        while server.connections_open:  # noqa: ASYNC110 - the server's thread counts them
            await anyio.sleep(0.01)


async def test_posts_on_their_way_together_use_one_connection(
    server: FakeSMTPServer, pool: SessionPool
) -> None:
    async with pool.in_use(), pool.in_use():  # two posts on their way: the connection stays
        for number in range(3):
            await _send(pool, number)
        assert server.connections_open == 1
    await _closed(server)
    assert [m.parsed()["Subject"] for m in server.received] == ["post 0", "post 1", "post 2"]
    assert server.connections_made == 1


async def test_a_post_on_its_own_closes_its_connection(
    server: FakeSMTPServer, pool: SessionPool
) -> None:
    for number in range(2):
        async with pool.in_use():
            await _send(pool, number)
        await _closed(server)
    assert (len(server.received), server.connections_made) == (2, 2)


async def test_a_kept_connection_the_server_hung_up_is_replaced(
    server: FakeSMTPServer, pool: SessionPool
) -> None:
    """The server closing an idle connection costs a new connection, not a failed post."""
    async with pool.in_use(), pool.in_use():
        await _send(pool, 1)
        server.drop_connections()
        await _closed(server)
        await _send(pool, 2)
    await _closed(server)
    assert [m.parsed()["Subject"] for m in server.received] == ["post 1", "post 2"]
    assert (server.connections_made, server.mail_commands) == (2, 2)


async def test_a_post_arriving_while_the_last_one_says_goodbye_keeps_its_connection(
    server: FakeSMTPServer, pool: SessionPool
) -> None:
    """The last post out closes the idle connections, never one a newcomer took meanwhile."""

    async def post(number: int) -> None:
        async with pool.in_use():
            await _send(pool, number)

    async with AsyncExitStack() as last_one_out:
        await last_one_out.enter_async_context(pool.in_use())
        async with anyio.create_task_group() as group:  # two connections, both kept open
            group.start_soon(post, 1)
            group.start_soon(post, 2)
        assert server.connections_open == 2
        server.behaviour.stall_seconds = 0.3  # the new post is mid-send while goodbyes are said
        async with anyio.create_task_group() as group:
            group.start_soon(last_one_out.aclose)  # its goodbye waits for the server's answer
            group.start_soon(post, 3)  # and meanwhile a new post takes a kept connection
    await _closed(server)
    assert sorted(m.parsed()["Subject"] for m in server.received) == ["post 1", "post 2", "post 3"]
    assert server.mail_commands == 3  # nothing was sent twice
