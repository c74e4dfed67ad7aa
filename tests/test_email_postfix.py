"""The e-mail platform against a real Postfix (with Dovecot SASL): copies counted in Maildirs.

Each test uses its own subject, so the session's one server keeps tests apart.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from daemon.frontmatter import ContentWarning
from daemon.post import Post
from daemon.publisher import PublisherContext
from daemon.publishers.email import EmailPublisher, EmailSettings
from daemon.registry import Registry
from tests.conftest import make_image, running_daemon, wait_for, write_config, write_post
from tests.fakes.postfix import PASSWORD, SIZE_LIMIT, SLOW_SECONDS, USER, MailServer
from tests.fakes.smtp_server import file_names
from tests.test_email import make_post

MAX_RETRIES = 2
# Quick call-level retries, set in the config as the owner would.
FAST_RETRIES = {"max_retries": MAX_RETRIES, "retry_base_delay": 0.01, "retry_max_delay": 0.02}


def unique(words: str) -> str:
    return f"{words} {uuid.uuid4().hex[:8]}"


def section(server: MailServer, port: str, **settings: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": server.ports[port],
        "security": "none",
        "sender": USER,
        "recipients": ["post@example.com"],
        "timeout": 10,
        **settings,
    }
    return values


def publisher(server: MailServer, port: str, tmp_path: Path, **settings: Any) -> EmailPublisher:
    values = section(server, port, **{**FAST_RETRIES, **settings})
    context = PublisherContext(state_dir=tmp_path / "state")
    return EmailPublisher(EmailSettings.model_validate(values), context)


def login_publisher(
    server: MailServer, port: str, tmp_path: Path, security: str, password: str = PASSWORD
) -> EmailPublisher:
    """A publisher logging in as USER with `password` over `security`, trusting the test CA."""
    return publisher(
        server,
        port,
        tmp_path,
        security=security,
        ca_file=str(server.ca_file),
        username=USER,
        password=password,
    )


async def run_until_filed(
    config: Path, stem: str, caption: str, filed_in: str, within: float, what: str
) -> None:
    """Run the daemon on `config`, drop the post `stem`, and stop once its record is in `filed_in`."""
    async with running_daemon(config, _registry()):
        write_post(config.parent / "inbox", stem, caption)
        await wait_for(
            lambda: list((config.parent / filed_in).rglob(f"{stem}.result.json")),
            within=within,
            what=what,
        )


def dropcast(config: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon", "--config", str(config), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def record_of(folder: Path, stem: str) -> dict[str, Any]:
    [path] = folder.rglob(f"{stem}.result.json")
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


@pytest.mark.timeout(120)
async def test_post_level_retries_never_mail_the_accepting_recipient_twice(
    mail_server: MailServer, tmp_path: Path
) -> None:
    """With one recipient deferred (452) and one refused (550), three attempts of the daemon
    deliver exactly one copy to the recipient Postfix took."""
    caption = unique("Retried post")
    recipients = ["post@example.com", "full@example.com", "gone@example.com"]
    platforms = {"email": section(mail_server, "plain", recipients=recipients)}
    config = write_config(tmp_path, platforms, max_attempts=3, retry_delays=[0.2])
    await run_until_filed(config, "retried", caption, "failed", 100, "the post to fail three times")
    mail_server.settled()
    assert mail_server.copies("post", caption) == 1
    record = record_of(tmp_path / "failed", "retried")
    assert record["attempts"] == 3
    error = record["platforms"]["email"]["error"]
    assert "deferred full@example.com (temporary, 452 4.2.2" in error
    assert "refused gone@example.com (550 5.1.1" in error
    assert "the message went to post@example.com" in error
    assert mail_server.copies("full", caption) == 0


@pytest.mark.timeout(120)
async def test_dropcast_retry_never_mails_the_accepting_recipient_twice(
    mail_server: MailServer, tmp_path: Path
) -> None:
    """A partial post retried twice with `dropcast retry` tries only the refused recipient."""
    caption = unique("Partial post")
    platforms = {
        "email": section(mail_server, "plain", recipients=["post@example.com", "gone@example.com"]),
        "preview": {"enabled": True, "folder": "preview"},
    }
    config = write_config(tmp_path, platforms)
    await run_until_filed(
        config, "partial", caption, "archive", 30, "the partial post in the archive"
    )
    for _ in range(2):
        retried = dropcast(config, "retry", "partial")
        assert retried.stdout.splitlines()[-1] == "partial: partial (email: failed)", retried.stderr
    mail_server.settled()
    assert mail_server.copies("post", caption) == 1
    assert mail_server.copies("gone", caption) == 0


@pytest.mark.timeout(120)
async def test_a_lost_answer_after_the_data_is_one_copy_recorded_unknown(
    mail_server: MailServer, tmp_path: Path
) -> None:
    """Postfix answers the end of the data after dropcast's timeout: one copy arrives, the
    record and `dropcast status` say unknown, and only `dropcast retry` sends it again."""
    caption = unique("Slow server")
    platforms = {"email": section(mail_server, "slow", timeout=SLOW_SECONDS / 3)}
    config = write_config(tmp_path, platforms, max_attempts=3, retry_delays=[0.2])
    await run_until_filed(config, "slow", caption, "archive", 60, "the post in the archive")
    mail_server.settled()
    assert mail_server.copies("post", caption) == 1
    email = record_of(tmp_path / "archive", "slow")["platforms"]["email"]
    assert email["state"] == "unknown"
    assert "after the whole message was sent to post@example.com" in email["error"]
    status = json.loads(dropcast(config, "status", "--json").stdout)
    assert status[0]["platforms"]["email"]["state"] == "unknown"
    retried = dropcast(config, "retry", "slow")  # the owner's word: send it again
    assert "sending again to post@example.com" in retried.stdout  # and it says so
    assert retried.stdout.splitlines()[-1] == "slow: partial (email: unknown)", retried.stderr
    mail_server.settled()
    assert mail_server.copies("post", caption) == 2


async def test_a_message_over_the_size_limit_gets_the_size_advice(
    mail_server: MailServer, tmp_path: Path
) -> None:
    """Over Postfix's message_size_limit (its SIZE) the post is refused with what to lower;
    lowering max_attachment_mb as advised gets it through."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    big = make_image(inbox / "big.png", size=(200, 200), image_format="PNG")
    _noise(big)
    caption = unique("Big picture")
    post = make_post(inbox, "big", caption, image=big)
    refused = await publisher(mail_server, "small", tmp_path).publish(post)
    assert not refused.ok
    assert refused.attempts == 1
    assert refused.error is not None
    assert f"it takes at most {SIZE_LIMIT:,} bytes" in refused.error
    assert "lower max_attachment_mb (now 20;" in refused.error
    assert "check sender" not in refused.error
    fitted = await publisher(mail_server, "small", tmp_path, max_attachment_mb=0.02).publish(post)
    assert fitted.ok, fitted.error
    mail_server.settled()
    assert mail_server.copies("post", caption) == 1


async def test_a_wrong_password_is_one_auth_attempt(
    mail_server: MailServer, tmp_path: Path
) -> None:
    """A wrong password costs one failed AUTH in Postfix's log (CRAM-MD5, the strongest
    offered), and is not retried; the right one logs in and delivers over STARTTLS."""
    before = len(mail_server.log())
    wrong = login_publisher(mail_server, "submission", tmp_path, "starttls", "not-the-password")
    caption = unique("Login")
    result = await wrong.publish(make_post(tmp_path / "inbox", "login", caption))
    failures = re.findall(r"SASL (\S+) authentication failed", mail_server.log()[before:])
    assert failures == ["CRAM-MD5"]
    assert not result.ok
    assert result.attempts == 1
    assert result.error is not None
    assert "refused the login of me@example.com with AUTH CRAM-MD5 (535 5.7.8" in result.error
    right = login_publisher(mail_server, "submission", tmp_path, "starttls")
    sent = await right.publish(make_post(tmp_path / "inbox", "login", caption))
    assert sent.ok, sent.error
    mail_server.settled()
    assert mail_server.copies("post", caption) == 1
    assert "sasl_method=CRAM-MD5, sasl_username=me@example.com" in mail_server.log()[before:]


async def test_implicit_tls_and_an_untrusted_certificate(
    mail_server: MailServer, tmp_path: Path
) -> None:
    """Implicit TLS with a login delivers; STARTTLS to a certificate from an unknown CA is
    refused at once, pointing to ca_file, with nothing delivered."""
    caption = unique("TLS")
    implicit = login_publisher(mail_server, "tls", tmp_path, "tls")
    assert (await implicit.publish(make_post(tmp_path / "inbox", "tls", caption))).ok
    untrusted = publisher(
        mail_server, "untrusted", tmp_path, security="starttls", ca_file=str(mail_server.ca_file)
    )
    result = await untrusted.publish(make_post(tmp_path / "inbox", "tls", caption))
    assert not result.ok
    assert result.attempts == 1
    assert result.error is not None
    assert "could not be verified" in result.error
    mail_server.settled()
    assert mail_server.copies("post", caption) == 1


async def test_delivered_headers_are_rfc_conformant(
    mail_server: MailServer, tmp_path: Path
) -> None:
    """As delivered: encoded words of at most 75 characters on lines of at most 76, and the
    file name both as an ASCII filename= and as RFC 2231 filename*=."""
    caption = unique("Été à Zürich 🌅 — 夕焼け, a long evening walk by the lake")
    post = make_post(tmp_path / "inbox", "Sommer 夕焼け am See", caption)
    result = await publisher(mail_server, "plain", tmp_path).publish(post)
    assert result.ok, result.error
    assert result.remote_id is not None
    mail_server.settled()
    [message] = [m for m in mail_server.messages("post") if m["Subject"] == caption]
    [raw] = [raw for raw in mail_server.raw_messages("post") if result.remote_id in raw]
    header = raw.split("\n\n")[0]
    words = re.findall(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=", header)
    assert words
    assert max(len(word) for word in words) <= 75
    assert max(len(line) for line in header.splitlines() if "=?" in line) <= 76
    [part] = list(message.iter_attachments())
    assert isinstance(part, EmailMessage)
    assert file_names(part) == ("Sommer ___ am See.jpg", "Sommer 夕焼け am See.jpg")


def _noise(path: Path) -> None:
    """Overwrite the image with noise, which does not compress: about 120 KB as PNG."""
    Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3)).save(path, "PNG")


def _registry() -> Registry:
    return Registry.discover(
        packages=("daemon.publishers", "tests.fakes.publishers"), entry_point_group=None
    )


async def test_an_album_arrives_in_order_with_its_alt_text_and_warning(
    mail_server: MailServer, tmp_path: Path
) -> None:
    """Three images through Postfix: one message, the images in order as sent, each with its
    alt text (one outside ASCII) as Content-Description and in the HTML's alt, the content
    warning in front of the subject."""
    caption = unique("Album walk")
    alts = ("A red sunset over the lake", "The same lake <at> night", "Nuit étoilée 🌌")
    post = _album(
        tmp_path / "inbox", caption, 3, alt=alts, content_warning=ContentWarning("nudity")
    )
    result = await publisher(mail_server, "plain", tmp_path, html=True).publish(post)
    assert result.ok, result.error
    mail_server.settled()
    [message] = [
        m for m in mail_server.messages("post") if m["Subject"] == f"[CW: nudity] {caption}"
    ]
    parts = [part for part in message.iter_attachments() if isinstance(part, EmailMessage)]
    assert [part.get_filename() for part in parts] == ["walk.1.jpg", "walk.2.jpg", "walk.3.jpg"]
    assert [part.get_content() for part in parts] == [path.read_bytes() for path in post.images]
    assert [part["Content-Description"] for part in parts] == list(alts)
    html_part = message.get_body(("html",))
    assert html_part is not None
    assert re.findall(r'alt="([^"]*)"', html_part.get_content()) == [
        "A red sunset over the lake",
        "The same lake &lt;at&gt; night",
        "Nuit étoilée 🌌",
    ]


async def test_an_album_over_the_size_limit_is_split_and_each_part_delivered_once(
    mail_server: MailServer, tmp_path: Path
) -> None:
    """Three ~10 KB noise images against Postfix's 40,000-byte SIZE: "(1/2)" and "(2/2)" are
    each delivered once, all three images in order across them, and a second publish (a
    retry) sends nothing more."""
    caption = unique("Split walk")
    post = _album(tmp_path / "inbox", caption, 3, noise=True)
    sender = publisher(mail_server, "small", tmp_path)
    result = await sender.publish(post)
    assert result.ok, result.error
    assert len(result.notes) == 1
    assert "sent as 2 messages" in result.notes[0]
    assert (await sender.publish(post)).attempts == 0
    mail_server.settled()
    assert mail_server.copies("post", f"{caption} (1/2)") == 1
    assert mail_server.copies("post", f"{caption} (2/2)") == 1
    found = [
        part.get_content()
        for number in (1, 2)
        for message in mail_server.messages("post")
        if message["Subject"] == f"{caption} ({number}/2)"
        for part in message.iter_attachments()
        if isinstance(part, EmailMessage)
    ]
    assert found == [path.read_bytes() for path in post.images]


def _album(folder: Path, caption: str, count: int, *, noise: bool = False, **kwargs: Any) -> Post:
    """`walk.1.jpg` ... with one caption; noise images are about 10 KB each as JPEG."""
    folder.mkdir(exist_ok=True)
    images = []
    for number in range(1, count + 1):
        path = folder / f"walk.{number}.jpg"
        pixels = os.urandom(30_000) if noise else bytes([number * 60]) * 30_000
        Image.frombytes("RGB", (100, 100), pixels).save(path, "JPEG", quality=90)
        images.append(path)
    caption_file = folder / "walk.txt"
    caption_file.write_text(caption, encoding="utf-8")
    return Post("walk", tuple(images), caption_file, caption, **kwargs)
