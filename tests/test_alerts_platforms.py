"""The platforms say when the owner must act (`PublishResult.needs_owner`): a login refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from daemon.post import Post
from daemon.publisher import PublisherContext
from daemon.publishers.email import EmailPublisher
from daemon.publishers.email.settings import EmailSettings
from tests.conftest import write_post
from tests.fakes.smtp_server import Behaviour, FakeSMTPServer
from tests.fakes.telegram_api import FakeTelegram, fake_telegram, telegram_publisher


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with fake_telegram() as fake:
        yield fake


def a_post(folder: Path) -> Post:
    folder.mkdir(exist_ok=True)
    image = write_post(folder, "walk", "A walk")
    return Post(stem="walk", images=(image,), caption_file=folder / "walk.txt", caption="A walk")


async def test_telegram_refusing_the_token_needs_the_owner(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    """A 401 Unauthorized is a result that needs the owner; a 500 is not."""
    telegram.fail(401)
    async with telegram_publisher(telegram, tmp_path) as publisher:
        refused = await publisher.publish(a_post(tmp_path / "inbox"))
    assert (refused.ok, refused.needs_owner) == (False, True)
    telegram.rules.clear()
    telegram.fail(500)
    async with telegram_publisher(telegram, tmp_path / "again", max_retries=0) as publisher:
        failed = await publisher.publish(a_post(tmp_path / "inbox2"))
    assert (failed.ok, failed.needs_owner) == (False, False)


async def test_email_refusing_the_login_needs_the_owner(tmp_path: Path, free_tcp_port: int) -> None:
    """A 535 to the login is a result that needs the owner."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    settings = EmailSettings.model_validate(
        {
            "enabled": True,
            "host": "127.0.0.1",
            "port": free_tcp_port,
            "ca_file": tmp_path / "ca.pem",
            "username": "me",
            "password": "not-the-right-one",
            "sender": "me@example.com",
            "recipients": ["post@example.com"],
            "max_retries": 0,
        }
    )
    publisher = EmailPublisher(settings, PublisherContext(state_dir=tmp_path / "state"))
    server = FakeSMTPServer(
        free_tcp_port,
        security="starttls",
        certificate=ca.issue_cert("127.0.0.1"),
        behaviour=Behaviour(users={"me": "the-right-one"}),
    )
    with server:
        result = await publisher.publish(a_post(tmp_path / "inbox"))
        await publisher.close()
    assert (result.ok, result.needs_owner) == (False, True)
    assert "check username and password" in (result.error or "")
