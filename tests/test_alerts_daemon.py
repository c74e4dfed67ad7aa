"""Alerts end to end: dropcast run as a process, its e-mail platform pointed at a real SMTP
server that is down and then comes back, the owner told through the fake Bot API and by
e-mail through a second real SMTP server (STARTTLS and a login)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.fakes.smtp_server import Behaviour, FakeSMTPServer, ReceivedMessage
from tests.fakes.telegram_api import TOKEN, FakeTelegram, fake_telegram_in_a_thread
from tests.test_crash import Dropcast, drop, killed_after, wait_until

PLATFORM_PASSWORD = "platform-SMTP-s3cret"
ALERT_PASSWORD = "alerts-SMTP-s3cret"
OWNER_CHAT = "424242"
SECRETS = (TOKEN, PLATFORM_PASSWORD, ALERT_PASSWORD)


@pytest.fixture
def dropcast(tmp_path: Path) -> Iterator[Dropcast]:
    yield from killed_after(tmp_path)


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with fake_telegram_in_a_thread() as fake:
        yield fake


def email_platform(port: int) -> dict[str, Any]:
    return {
        "enabled": True,
        "host": "127.0.0.1",
        "port": port,
        "security": "starttls",
        "ca_file": "ca.pem",
        "username": "me@example.com",
        "password": "${PLATFORM_PASSWORD}",
        "sender": "me@example.com",
        "recipients": ["post@example.com"],
        "max_retries": 0,
        "timeout": 5,
    }


def alerts_to(telegram_url: str, alert_port: int) -> dict[str, Any]:
    return {
        "to": [
            {
                "telegram": {
                    "token": "${ALERT_BOT_TOKEN}",
                    "chat_id": int(OWNER_CHAT),
                    "api_server": telegram_url,
                }
            },
            {
                "email": {
                    "host": "127.0.0.1",
                    "port": alert_port,
                    "security": "starttls",
                    "ca_file": "ca.pem",
                    "username": "alerts@example.com",
                    "password": "${ALERT_PASSWORD}",
                    "sender": "dropcast@example.com",
                    "to": "owner@example.com",
                }
            },
        ],
        "after_failures": 3,
    }


def failed_once(dropcast: Dropcast, stem: str) -> bool:
    return any(e["event"] == "post.failed" and e.get("post") == stem for e in dropcast.events())


def alert_texts(telegram: FakeTelegram) -> list[str]:
    return [r.text or "" for r in telegram.sent("sendMessage", OWNER_CHAT)]


def mailed(server: FakeSMTPServer) -> list[str]:
    return [_text(message) for message in server.received]


def _text(received: ReceivedMessage) -> str:
    message = received.parsed()
    body = message.get_body(("plain",))
    assert body is not None
    return f"{message['Subject']}\n{body.get_content()}"


def test_email_down_for_three_posts_alerts_once_then_once_recovered(
    dropcast: Dropcast,
    telegram: FakeTelegram,
    free_tcp_port_factory: Callable[[], int],
) -> None:
    """Three posts refused: one "email failing" alert to each destination, however often they
    are tried; the server back: one "works again"; no secret in any alert or log line."""
    platform_port, alert_port = free_tcp_port_factory(), free_tcp_port_factory()
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(dropcast.folder / "ca.pem"))
    certificate = ca.issue_cert("127.0.0.1")
    alert_server = FakeSMTPServer(
        alert_port,
        security="starttls",
        certificate=certificate,
        behaviour=Behaviour(users={"alerts@example.com": ALERT_PASSWORD}),
    )
    platform_server = FakeSMTPServer(
        platform_port,
        security="starttls",
        certificate=certificate,
        behaviour=Behaviour(users={"me@example.com": PLATFORM_PASSWORD}),
    )
    dropcast.environ.update(
        PLATFORM_PASSWORD=PLATFORM_PASSWORD, ALERT_PASSWORD=ALERT_PASSWORD, ALERT_BOT_TOKEN=TOKEN
    )
    dropcast.write_config(
        {"email": email_platform(platform_port)},
        alerts=alerts_to(telegram.url, alert_port),
        max_attempts=1000,  # they wait in the inbox, tried again and again, until it is back
    )
    with alert_server:
        dropcast.start()
        for stem in ("walk", "beach", "cliff"):  # nothing listens on the platform's port
            drop(dropcast.inbox, stem)
            wait_until(partial(failed_once, dropcast, stem), f"{stem} refused")  # in this order
        wait_until(lambda: alert_texts(telegram) and mailed(alert_server), "the failing alert")
        drop(dropcast.inbox, "dunes")  # a fourth post, and many attempts of each: no new alert
        dropcast.wait_for_event("post.failed", count=12)
        assert len(alert_texts(telegram)) == len(mailed(alert_server)) == 1

        with platform_server:
            wait_until(lambda: len(platform_server.received) == 4, "the four posts mailed")
            wait_until(lambda: len(alert_texts(telegram)) == 2, "the recovered alert")
            wait_until(lambda: len(mailed(alert_server)) == 2, "the recovered e-mail")
            dropcast.stop()

    failing, recovered = alert_texts(telegram)
    assert failing.startswith("email is failing: 3 posts in a row")
    assert "walk, beach, cliff" in failing
    assert "could not connect to 127.0.0.1" in failing
    assert f"dropcast --config {dropcast.folder / 'config.yaml'} retry cliff" in failing
    assert recovered.startswith("email works again")
    assert [text.split("\n")[0] for text in mailed(alert_server)] == [
        "dropcast: email is failing: 3 posts in a row",
        "dropcast: email works again",
    ]
    assert all(m.tls and m.login == "alerts@example.com" for m in alert_server.received)
    told = [*alert_texts(telegram), *mailed(alert_server), dropcast.log.read_text("utf-8")]
    assert not [secret for secret in SECRETS for text in told if secret in text]
    sent_events = [e for e in dropcast.events() if e["event"] == "alert.sent"]
    assert len(sent_events) == 4  # two alerts, two destinations each
