"""The e-mail platform end to end: the real daemon and watcher, a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from structlog.testing import capture_logs

from daemon.registry import Registry
from tests.conftest import archived, running_daemon, wait_for, write_config, write_post
from tests.fakes.smtp_server import Behaviour, FakeSMTPServer, file_names

PASSWORD = "s3cret-SMTP-pass"


def email_section(port: int) -> dict[str, Any]:
    return {
        "enabled": True,
        "host": "127.0.0.1",
        "port": port,
        "security": "starttls",
        "ca_file": "ca.pem",  # relative to the config's folder
        "username": "me@example.com",
        "password": "${SMTP_PASSWORD}",
        "sender": "Dropcast <me@example.com>",
        "recipients": ["post@example.com"],
        "subject": "{title}",
    }


async def test_a_dropped_post_is_mailed_and_previewed(tmp_path: Path, free_tcp_port: int) -> None:
    """A post dropped into the inbox arrives by e-mail with its caption and exact image, and is archived."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    registry = Registry.discover(
        packages=("daemon.publishers", "tests.fakes.publishers"), entry_point_group=None
    )
    platforms = {
        "email": email_section(free_tcp_port),
        "preview": {"enabled": True, "folder": "preview"},
    }
    config = write_config(tmp_path, platforms)
    server = FakeSMTPServer(
        free_tcp_port,
        security="starttls",
        certificate=ca.issue_cert("127.0.0.1"),
        behaviour=Behaviour(users={"me@example.com": PASSWORD}),
    )
    caption = "Été au lac 🌅\nThe last light over the water."
    with server, capture_logs() as logs:
        async with running_daemon(config, registry, environ={"SMTP_PASSWORD": PASSWORD}):
            image = write_post(tmp_path / "inbox", "Lac d'été", caption)
            original = image.read_bytes()
            await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")

    [received] = server.received
    assert (received.login, received.tls) == ("me@example.com", True)
    message = received.parsed()
    assert message["Subject"] == "Été au lac 🌅"
    assert message["From"] == "Dropcast <me@example.com>"
    assert message["To"] == "post@example.com"
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content() == caption + "\n"
    [attachment] = list(message.iter_attachments())
    assert isinstance(attachment, EmailMessage)
    assert file_names(attachment) == ("Lac d'ete.jpg", "Lac d'été.jpg")
    assert attachment.get_content_type() == "image/jpeg"
    assert attachment.get_content() == original

    record_file = next(p for p in archived(tmp_path) if p.name.endswith(".result.json"))
    record = json.loads(record_file.read_text(encoding="utf-8"))
    assert record["outcome"] == "published"
    assert record["platforms"]["email"]["ok"] is True
    assert record["platforms"]["email"]["id"] == message["Message-ID"]
    assert record["platforms"]["preview"]["ok"] is True
    assert PASSWORD not in record_file.read_text(encoding="utf-8") + repr(logs)
