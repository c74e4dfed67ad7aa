"""The e-mail platform against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from PIL import Image
from structlog.testing import capture_logs

from daemon.post import Post
from daemon.publisher import PublisherContext
from daemon.publishers.email import EmailPublisher, EmailSettings
from daemon.publishers.email.errors import EmailCheckError
from tests.conftest import make_image
from tests.fakes.smtp_server import Behaviour, FakeSMTPServer, file_names, smtp_servers

MAX_RETRIES = 2
# Quick call-level retries, set in the config as the owner would.
FAST_RETRIES = {"max_retries": MAX_RETRIES, "retry_base_delay": 0.01, "retry_max_delay": 0.02}
PASSWORD = "hunter2-Sekr1t"

Serve = Callable[..., FakeSMTPServer]


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def serve(free_tcp_port: int, ca: trustme.CA) -> Iterator[Serve]:
    """Start a fake SMTP server on the test's free port; it is stopped after the test."""
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    with smtp_servers(free_tcp_port, certificate=certificate) as start:
        yield start


@pytest.fixture
def publisher(free_tcp_port: int, tmp_path: Path) -> Callable[..., EmailPublisher]:
    """Make a publisher for the test's server; keyword arguments override settings."""

    def make(**settings: Any) -> EmailPublisher:
        values: dict[str, Any] = {
            "enabled": True,
            "host": "127.0.0.1",
            "port": free_tcp_port,
            "security": "none",
            "sender": "Dropcast <me@example.com>",
            "recipients": ["post@example.com"],
            "timeout": 5,
            **FAST_RETRIES,
            **settings,
        }
        context = PublisherContext(state_dir=tmp_path / "state")
        return EmailPublisher(EmailSettings.model_validate(values), context)

    return make


def make_post(folder: Path, stem: str = "sunset", caption: str = "Red sky", **kwargs: Any) -> Post:
    folder.mkdir(exist_ok=True)
    image = kwargs.pop("image", None) or make_image(folder / f"{stem}.jpg")
    caption_file = folder / f"{stem}.txt"
    caption_file.write_text(caption, encoding="utf-8")
    return Post(stem=stem, images=(image,), caption_file=caption_file, caption=caption, **kwargs)


def attachments(message: EmailMessage) -> list[EmailMessage]:
    return [part for part in message.iter_attachments() if isinstance(part, EmailMessage)]


async def test_plain_smtp_delivers_the_post(serve: Serve, publisher: Any, tmp_path: Path) -> None:
    """Over plain SMTP the message reaches the server from the sender to the recipient."""
    server = serve()
    result = await publisher().publish(make_post(tmp_path / "inbox"))
    assert result.ok, result.error
    assert len(server.received) == 1
    received = server.received[0]
    assert (received.mail_from, received.rcpt_tos) == ("me@example.com", ("post@example.com",))
    assert received.tls is False


async def test_starttls_with_a_private_ca_delivers_over_tls(
    serve: Serve, publisher: Any, tmp_path: Path, ca_file: Path
) -> None:
    """STARTTLS verifies the server's certificate against ca_file and sends over TLS."""
    server = serve(security="starttls")
    result = await publisher(security="starttls", ca_file=ca_file).publish(
        make_post(tmp_path / "inbox")
    )
    assert result.ok, result.error
    assert [message.tls for message in server.received] == [True]


async def test_implicit_tls_delivers_over_tls(
    serve: Serve, publisher: Any, tmp_path: Path, ca_file: Path
) -> None:
    """security: tls talks TLS from the first byte and sends over it."""
    server = serve(security="tls")
    result = await publisher(security="tls", ca_file=ca_file).publish(make_post(tmp_path / "inbox"))
    assert result.ok, result.error
    assert [message.tls for message in server.received] == [True]


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
async def test_login_works_with_either_mechanism(
    serve: Serve, publisher: Any, tmp_path: Path, ca_file: Path, mechanism: str
) -> None:
    """A server offering only AUTH LOGIN, or only AUTH PLAIN, accepts the right password."""
    server = serve(
        security="starttls",
        mechanisms=frozenset({mechanism}),
        behaviour=Behaviour(users={"me@example.com": PASSWORD}),
    )
    sender = publisher(
        security="starttls", ca_file=ca_file, username="me@example.com", password=PASSWORD
    )
    result = await sender.publish(make_post(tmp_path / "inbox"))
    assert result.ok, result.error
    assert server.logins == [(mechanism, "me@example.com")]
    assert [message.login for message in server.received] == ["me@example.com"]


async def test_wrong_password_is_not_retried_and_says_what_to_fix(
    serve: Serve, publisher: Any, tmp_path: Path, ca_file: Path
) -> None:
    """A 535 reply fails the post at once, asking to check username and password."""
    server = serve(security="starttls", behaviour=Behaviour(users={"me": "the-right-one"}))
    sender = publisher(security="starttls", ca_file=ca_file, username="me", password=PASSWORD)
    result = await sender.publish(make_post(tmp_path / "inbox"))
    assert not result.ok
    assert result.attempts == 1
    assert result.error is not None
    assert "535" in result.error
    assert "check username and password" in result.error
    assert server.failed_logins == [("PLAIN", "me")]  # one mechanism: one failed login
    assert server.mail_commands == 0


async def test_password_never_appears_in_logs_errors_or_records(
    serve: Serve, publisher: Any, tmp_path: Path, ca_file: Path
) -> None:
    """Even a server that quotes the password back leaves no trace of it in logs, errors or records."""
    serve(
        security="starttls",
        behaviour=Behaviour(
            users={"me": "the-right-one"}, auth_reply=f"535 5.7.8 Bad login me/{PASSWORD}"
        ),
    )
    sender = publisher(security="starttls", ca_file=ca_file, username="me", password=PASSWORD)
    with capture_logs() as logs:
        result = await sender.publish(make_post(tmp_path / "inbox"))
        with pytest.raises(EmailCheckError) as raised:
            await sender.check_connection()
    everything = repr(logs) + json.dumps(asdict(result)) + str(raised.value)
    assert "535" in everything
    assert PASSWORD not in everything + repr(sender.settings)


async def test_a_refused_recipient_makes_the_result_not_ok_and_names_it(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """One refused recipient of two: the other gets the message, the result fails naming the refused one."""
    server = serve(behaviour=Behaviour(refuse={"gone@example.com": "550 5.1.1 No such user"}))
    sender = publisher(recipients=["post@example.com", "gone@example.com"])
    result = await sender.publish(make_post(tmp_path / "inbox"))
    assert not result.ok
    assert result.error is not None
    assert "gone@example.com (550 5.1.1 No such user)" in result.error
    assert result.remote_id == server.received[0].parsed()["Message-ID"]
    assert [message.rcpt_tos for message in server.received] == [("post@example.com",)]
    assert result.attempts == 1


async def test_every_recipient_refused_with_5xx_is_not_retried(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """A 5xx refusal of the only recipient fails at once and says to check recipients."""
    server = serve(behaviour=Behaviour(refuse={"post@example.com": "550 5.1.1 No such user"}))
    result = await publisher().publish(make_post(tmp_path / "inbox"))
    assert not result.ok
    assert result.attempts == 1
    assert result.error is not None
    assert "post@example.com (550 5.1.1 No such user): check recipients" in result.error
    assert server.received == []


async def test_a_server_that_is_down_is_retried_then_reported(
    publisher: Any, tmp_path: Path, free_tcp_port: int
) -> None:
    """Connection refused is retried with backoff, then reported with host and port."""
    result = await publisher().publish(make_post(tmp_path / "inbox"))
    assert not result.ok
    assert result.attempts == MAX_RETRIES + 1
    assert result.error == (
        f"could not connect to 127.0.0.1:{free_tcp_port} ({os.strerror(111)}): "
        "check host and port, and that the server is up"
    )


async def test_a_stalled_server_times_out_and_is_retried(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """A server that does not answer within `timeout` is tried again, then reported as silent."""
    server = serve(behaviour=Behaviour(stall_seconds=30))
    result = await publisher(timeout=0.3).publish(make_post(tmp_path / "inbox"))
    assert not result.ok
    assert result.attempts == MAX_RETRIES + 1
    assert result.error is not None
    assert result.error.endswith("did not answer within 0.3 s")
    assert server.mail_commands == result.attempts


async def test_max_retries_0_reports_a_temporary_failure_at_once(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """With `max_retries: 0` in the section, a 451 to DATA is reported after one attempt."""
    server = serve(behaviour=Behaviour(data_replies=["451 4.3.0 Try again later"]))
    result = await publisher(max_retries=0).publish(make_post(tmp_path / "inbox"))
    assert not result.ok
    assert (result.attempts, server.mail_commands, server.received) == (1, 1, [])
    assert result.error is not None
    assert "451 4.3.0 Try again later (a temporary failure)" in result.error


async def test_a_4xx_reply_is_retried_until_the_server_takes_the_message(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """A temporary 451 to DATA is retried on a new connection, which delivers the message."""
    server = serve(behaviour=Behaviour(data_replies=["451 4.3.0 Try again later"]))
    result = await publisher().publish(make_post(tmp_path / "inbox"))
    assert result.ok, result.error
    assert result.attempts == 2
    assert len(server.received) == 1


async def test_a_5xx_reply_to_the_message_is_not_retried(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """A permanent 554 to DATA fails at once with the server's words."""
    server = serve(behaviour=Behaviour(data_replies=["554 5.6.0 Message rejected"]))
    result = await publisher().publish(make_post(tmp_path / "inbox"))
    assert not result.ok
    assert result.attempts == 1
    assert result.error is not None
    assert "refused the message (554 5.6.0 Message rejected)" in result.error
    assert server.mail_commands == 1


async def test_an_untrusted_certificate_is_not_retried_and_points_to_ca_file(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """Without ca_file the test CA is unknown: TLS verification fails at once, nothing is sent."""
    server = serve(security="starttls")
    result = await publisher(security="starttls").publish(make_post(tmp_path / "inbox"))
    assert not result.ok
    assert result.attempts == 1
    assert result.error is not None
    assert "could not be verified" in result.error
    assert "set ca_file" in result.error
    assert server.mail_commands == 0


async def test_a_certificate_for_another_host_is_refused(
    serve: Serve, publisher: Any, tmp_path: Path, ca: trustme.CA, ca_file: Path
) -> None:
    """A trusted certificate issued for another name fails verification over implicit TLS."""
    serve(security="tls", certificate=ca.issue_cert("mail.example.test"))
    result = await publisher(security="tls", ca_file=ca_file).publish(make_post(tmp_path / "inbox"))
    assert not result.ok
    assert result.attempts == 1
    assert result.error is not None
    assert "127.0.0.1" in result.error
    assert "could not be verified" in result.error


async def test_starttls_that_the_server_lacks_is_an_error(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """security: starttls never falls back to plain text when the server offers no STARTTLS."""
    server = serve(security="none")
    result = await publisher(security="starttls").publish(make_post(tmp_path / "inbox"))
    assert not result.ok
    assert result.attempts == 1
    assert result.error is not None
    assert "does not offer STARTTLS" in result.error
    assert server.mail_commands == 0


async def test_implicit_tls_to_a_plain_server_says_to_check_security(
    serve: Serve, publisher: Any, tmp_path: Path, ca_file: Path
) -> None:
    """security: tls against a plain SMTP port fails at once and names security and port."""
    serve(security="none")
    result = await publisher(security="tls", ca_file=ca_file).publish(make_post(tmp_path / "inbox"))
    assert not result.ok
    assert result.attempts == 1
    assert result.error is not None
    assert "check security and port" in result.error


async def test_check_connection_logs_in_and_describes_the_connection(
    serve: Serve, publisher: Any, ca_file: Path, free_tcp_port: int
) -> None:
    """check_connection connects, negotiates STARTTLS, logs in, quits and says so."""
    server = serve(security="starttls", behaviour=Behaviour(users={"me": PASSWORD}))
    sender = publisher(security="starttls", ca_file=ca_file, username="me", password=PASSWORD)
    found = await sender.check_connection()
    assert found.startswith(f"127.0.0.1:{free_tcp_port}, STARTTLS (TLSv1.")
    assert found.endswith(", logged in as me")
    assert [login for _, login in server.logins] == ["me"]
    assert server.received == []


async def test_check_connection_reports_an_unreachable_server(
    publisher: Any, free_tcp_port: int
) -> None:
    """check_connection raises at once, with what to fix, when nothing listens."""
    with pytest.raises(EmailCheckError, match=f"could not connect to 127.0.0.1:{free_tcp_port}"):
        await publisher().check_connection()


async def test_headers_identify_the_message(serve: Serve, publisher: Any, tmp_path: Path) -> None:
    """Date, Message-ID (the record's id), From and To are set as a mail server expects."""
    server = serve()
    before = datetime.now(UTC).replace(microsecond=0)
    result = await publisher(recipients=["post@example.com", "me@example.com"]).publish(
        make_post(tmp_path / "inbox")
    )
    message = server.received[0].parsed()
    assert result.remote_id == message["Message-ID"]
    assert message["Message-ID"].startswith("<")
    assert message["Message-ID"].endswith("@example.com>")
    assert before <= parsedate_to_datetime(message["Date"]) <= datetime.now(UTC)
    assert message["From"] == "Dropcast <me@example.com>"
    assert message["To"] == "post@example.com, me@example.com"
    assert message["MIME-Version"] == "1.0"


async def test_non_ascii_subject_body_and_file_name_survive_the_trip(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """Accents, CJK and emoji in subject, body and file name read back unchanged."""
    server = serve()
    caption = "Été à Zürich 🌅 — 夕焼け\nZweite Zeile: Grüße"
    post = make_post(tmp_path / "inbox", "Sommer 夕焼け", caption)
    await publisher().publish(post)
    raw = server.received[0].content
    assert raw.isascii()  # 7-bit clean: encoded words, quoted-printable, base64
    message = server.received[0].parsed()
    assert message["Subject"] == "Été à Zürich 🌅 — 夕焼け"
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content_charset() == "utf-8"
    assert body.get_content() == caption + "\n"
    [part] = attachments(message)
    assert file_names(part) == ("Sommer ___.jpg", "Sommer 夕焼け.jpg")  # an ASCII fallback too


@pytest.mark.parametrize(
    ("suffix", "image_format", "content_type"),
    [
        (".jpg", "JPEG", "image/jpeg"),
        (".png", "PNG", "image/png"),
        (".webp", "WEBP", "image/webp"),
    ],
)
async def test_the_attachment_is_the_image_byte_for_byte(
    serve: Serve,
    publisher: Any,
    tmp_path: Path,
    suffix: str,
    image_format: str,
    content_type: str,
) -> None:
    """The attached bytes equal the image file, with the content type of its format."""
    server = serve()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    image = make_image(inbox / f"photo{suffix}", image_format=image_format)
    await publisher().publish(make_post(inbox, "photo", image=image))
    [part] = attachments(server.received[0].parsed())
    assert part.get_content_type() == content_type
    assert part.get_content_disposition() == "attachment"
    assert part.get_content() == image.read_bytes()


async def test_an_image_over_the_limit_is_sent_as_a_smaller_jpeg(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """A 30 MB image under max_attachment_mb: 20 arrives as a JPEG under 20 MB, and the resize is logged."""
    server = serve()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    side = 3200  # random pixels do not compress: 3200 x 3200 x 3 bytes is about 30 MB as PNG
    noise = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    image = inbox / "huge.png"
    noise.save(image, "PNG", compress_level=0)
    assert image.stat().st_size > 30_000_000
    with capture_logs() as logs:
        result = await publisher(max_attachment_mb=20).publish(
            make_post(inbox, "huge", image=image)
        )
    assert result.ok, result.error
    [part] = attachments(server.received[0].parsed())
    data = part.get_content()
    assert len(data) <= 20_000_000
    assert (part.get_content_type(), part.get_filename()) == ("image/jpeg", "huge.jpg")
    assert data.startswith(b"\xff\xd8")
    [event] = [log for log in logs if log["event"] == "email.image_resized"]
    assert event["original_bytes"] == image.stat().st_size
    assert event["sent_bytes"] == len(data)
    [note] = result.notes  # the result record says it was resized
    assert note.startswith(
        f"image re-encoded to fit max_attachment_mb: {image.stat().st_size:,} bytes"
    )


async def test_html_shows_the_image_inline(serve: Serve, publisher: Any, tmp_path: Path) -> None:
    """With html: true the HTML part shows the image by its Content-ID, and the text part remains."""
    server = serve()
    post = make_post(tmp_path / "inbox", "sunset", "Red <sky> & sea")
    await publisher(html=True).publish(post)
    message = server.received[0].parsed()
    assert message.get_content_type() == "multipart/related"
    html_part = message.get_body(("html",))
    plain_part = message.get_body(("plain",))
    assert html_part is not None
    assert plain_part is not None
    assert plain_part.get_content() == "Red <sky> & sea\n"
    [image] = attachments(message)
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html_part.get_content()
    assert "Red &lt;sky&gt; &amp; sea" in html_part.get_content()
    assert image.get_content() == post.image.read_bytes()
    assert image.get_filename() == "sunset.jpg"


async def test_a_caption_for_email_in_the_front_matter_is_used(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """A post's own caption for the email platform becomes the subject and body."""
    server = serve()
    post = make_post(tmp_path / "inbox", caption="For everyone", captions={"email": "Just mail"})
    await publisher().publish(post)
    message = server.received[0].parsed()
    body = message.get_body(("plain",))
    assert body is not None
    assert (message["Subject"], body.get_content()) == ("Just mail", "Just mail\n")


async def test_subject_and_body_templates_are_filled_in(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """The subject and body templates get the title, stem, date and caption."""
    server = serve()
    sender = publisher(subject="[{stem}] {title} ({date})", body="{caption}\n\n-- {stem}")
    await sender.publish(make_post(tmp_path / "inbox", "walk", "Autumn\nLeaves everywhere"))
    message = server.received[0].parsed()
    today = datetime.now().astimezone().date().isoformat()
    assert message["Subject"] == f"[walk] Autumn ({today})"
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content() == "Autumn\nLeaves everywhere\n\n-- walk\n"


async def test_a_ca_file_that_is_not_pem_fails_the_post_saying_so(
    publisher: Any, tmp_path: Path
) -> None:
    """A ca_file that holds no certificate fails the post with a message naming ca_file."""
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("this is not a certificate\n", encoding="utf-8")
    result = await publisher(security="starttls", ca_file=not_pem).publish(
        make_post(tmp_path / "inbox")
    )
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith(f"ca_file {not_pem} could not be read")


async def test_a_retry_sends_only_to_the_recipients_that_lack_the_post(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """After one recipient of two was refused, publishing again never mails the other one
    again; once the refused one is taken, it gets the same Message-ID and the result is ok."""
    server = serve(behaviour=Behaviour(refuse={"gone@example.com": "550 5.1.1 No such user"}))
    sender = publisher(recipients=["post@example.com", "Gone <gone@example.com>"])
    post = make_post(tmp_path / "inbox")
    first = await sender.publish(post)
    second = await sender.publish(post)
    assert not first.ok
    assert not second.ok
    assert second.error is not None
    assert "the message went to post@example.com" in second.error
    assert [message.rcpt_tos for message in server.received] == [("post@example.com",)]
    server.behaviour.refuse.clear()
    third = await sender.publish(post)
    assert third.ok, third.error
    assert [message.rcpt_tos for message in server.received] == [
        ("post@example.com",),
        ("gone@example.com",),
    ]
    ids = {message.parsed()["Message-ID"] for message in server.received}
    assert ids == {first.remote_id, third.remote_id}
    assert len(ids) == 1


async def test_a_deferred_recipient_is_tried_again_alone_and_called_deferred(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """A 452 at RCPT is retried for that recipient only; the error says deferred, not refused."""
    server = serve(behaviour=Behaviour(refuse={"full@example.com": "452 4.2.2 Mailbox full"}))
    sender = publisher(recipients=["post@example.com", "full@example.com"])
    result = await sender.publish(make_post(tmp_path / "inbox"))
    assert not result.ok
    assert not result.unknown
    assert result.attempts == MAX_RETRIES + 1
    assert result.error == (
        "the server deferred full@example.com (temporary, 452 4.2.2 Mailbox full): tried "
        "again later; the message went to post@example.com"
    )
    assert [message.rcpt_tos for message in server.received] == [("post@example.com",)]
    assert server.mail_commands == result.attempts


async def test_an_answer_lost_after_the_message_is_unknown_and_not_sent_again(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """The server keeps the message and answers after `timeout`: one copy, the result and the
    recipient are unknown, and nothing is retried."""
    server = serve(behaviour=Behaviour(answer_delay=2))
    sender = publisher(timeout=0.3)
    post = make_post(tmp_path / "inbox")
    result = await sender.publish(post)
    assert result.unknown
    assert result.outcome == "unknown"
    assert result.attempts == 1
    assert result.error is not None
    assert "did not answer within 0.3 s after the whole message was sent" in result.error
    assert "dropcast retry" in result.error
    assert len(server.received) == 1
    assert result.remote_id == server.received[0].parsed()["Message-ID"]
    known = await sender.context.progress.for_post(post, "email").known()
    assert known["post@example.com"].state == "unknown"


async def test_an_unreadable_answer_after_the_message_is_unknown_not_refused(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """The server keeps the message and answers with a line that is no SMTP reply: that is no
    refusal (it was sent again), but a lost answer: one copy, unknown, nothing retried."""
    server = serve(behaviour=Behaviour(garbled_answer=True))
    sender = publisher()
    post = make_post(tmp_path / "inbox")
    result = await sender.publish(post)
    assert result.outcome == "unknown", result.error
    assert (result.attempts, len(server.received), server.mail_commands) == (1, 1, 1)
    known = await sender.context.progress.for_post(post, "email").known()
    assert known["post@example.com"].state == "unknown"


async def test_a_message_over_the_servers_size_is_refused_before_sending(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """A message larger than the SIZE the server advertises is refused at once with advice."""
    server = serve(size_limit=1_000)
    result = await publisher().publish(make_post(tmp_path / "inbox"))
    assert not result.ok
    assert result.attempts == 1
    assert result.error is not None
    assert "is too large for" in result.error
    assert "it takes at most 1,000 bytes" in result.error
    assert "lower max_attachment_mb (now 20;" in result.error
    assert server.mail_commands == 0


@pytest.mark.parametrize(
    "behaviour",
    [
        Behaviour(mail_replies=["552 5.3.4 Message size exceeds fixed limit"]),
        Behaviour(data_replies=["552 5.3.4 Error: message file too big"]),
        Behaviour(refuse={"post@example.com": "552 5.3.4 Message too big for this mailbox"}),
    ],
    ids=["mail-from", "end-of-data", "rcpt"],
)
async def test_a_552_at_any_step_gives_the_size_advice(
    serve: Serve, publisher: Any, tmp_path: Path, behaviour: Behaviour
) -> None:
    """552 5.3.4 at MAIL FROM, RCPT or the end of the data says to lower max_attachment_mb."""
    server = serve(behaviour=behaviour)
    result = await publisher().publish(make_post(tmp_path / "inbox"))
    assert not result.ok
    assert result.attempts == 1
    assert result.error is not None
    assert "552 5.3.4" in result.error
    assert "lower max_attachment_mb (now 20;" in result.error
    assert "check sender" not in result.error
    assert server.received == []
