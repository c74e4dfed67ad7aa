"""Albums, alt text and content warnings by e-mail, against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import anyio
import pytest
from PIL import Image
from pydantic import ValidationError

from daemon.frontmatter import ContentWarning
from daemon.post import Post
from daemon.progress import MemoryProgress
from daemon.publisher import PublisherContext
from daemon.publishers.email import EmailPublisher, EmailSettings
from daemon.publishers.email.album import split_to_fit
from daemon.publishers.email.image import Attachment
from daemon.publishers.email.message import Content, as_smtp_bytes, build_message, image_part_size
from tests.fakes.smtp_server import Behaviour, FakeSMTPServer, smtp_servers
from tests.test_email import attachments

Serve = Callable[..., FakeSMTPServer]
COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
ALTS = ("A red sunset over the lake", 'The "same" lake <at> night & calm', "Nuit étoilée 🌌")


@pytest.fixture
def serve(free_tcp_port: int) -> Iterator[Serve]:
    """Start a plain fake SMTP server on the test's free port; stopped after the test."""
    with smtp_servers(free_tcp_port) as start:
        yield start


@pytest.fixture
def progress() -> MemoryProgress:
    """The destinations' marks, kept across publishers as the ledger keeps them over restarts."""
    return MemoryProgress()


@pytest.fixture
def publisher(
    free_tcp_port: int, tmp_path: Path, progress: MemoryProgress
) -> Callable[..., EmailPublisher]:
    def make(**settings: Any) -> EmailPublisher:
        values: dict[str, Any] = {
            "enabled": True,
            "host": "127.0.0.1",
            "port": free_tcp_port,
            "security": "none",
            "sender": "Dropcast <me@example.com>",
            "recipients": ["post@example.com"],
            "timeout": 5,
            "max_retries": 0,
            **settings,
        }
        context = PublisherContext(state_dir=tmp_path / "state", progress=progress)
        return EmailPublisher(EmailSettings.model_validate(values), context)

    return make


def album(
    folder: Path, count: int, *, noise: bool = False, caption: str = "Red sky", **kwargs: Any
) -> Post:
    """`walk.1.jpg` ... `walk.<count>.jpg` and `walk.txt`, each image its own colour (or noise,
    which does not compress: about 10 KB each)."""
    folder.mkdir(exist_ok=True)
    images = []
    for number in range(1, count + 1):
        path = folder / f"walk.{number}.jpg"
        if noise:
            Image.frombytes("RGB", (100, 100), os.urandom(30_000)).save(path, "JPEG", quality=90)
        else:
            colour = COLOURS[(number - 1) % len(COLOURS)]
            Image.new("RGB", (40 + number, 30), colour).save(path, "JPEG")
        images.append(path)
    caption_file = folder / "walk.txt"
    caption_file.write_text(caption, encoding="utf-8")
    return Post(
        stem="walk", images=tuple(images), caption_file=caption_file, caption=caption, **kwargs
    )


def descriptions(message: EmailMessage) -> list[str | None]:
    return [part["Content-Description"] for part in attachments(message)]


class TestOneMessage:
    async def test_a_three_image_album_is_one_message_with_the_images_in_order(
        self, serve: Serve, publisher: Any, tmp_path: Path
    ) -> None:
        """Three images arrive in one message, attached in order under their own names,
        each byte for byte, each with its alt text as Content-Description."""
        server = serve()
        post = album(tmp_path / "inbox", 3, alt=ALTS)
        result = await publisher().publish(post)
        assert result.ok, result.error
        assert result.notes == ()
        [received] = server.received
        message = received.parsed()
        parts = attachments(message)
        assert [part.get_filename() for part in parts] == ["walk.1.jpg", "walk.2.jpg", "walk.3.jpg"]
        assert [part.get_content() for part in parts] == [p.read_bytes() for p in post.images]
        assert descriptions(message) == list(ALTS)
        assert message["Subject"] == "Red sky"

    async def test_a_non_ascii_alt_text_is_an_rfc_2047_encoded_word(
        self, serve: Serve, publisher: Any, tmp_path: Path
    ) -> None:
        """Alt text outside ASCII goes encoded (the message stays 7-bit); ASCII goes as it is."""
        server = serve()
        await publisher().publish(album(tmp_path / "inbox", 3, alt=ALTS))
        raw = server.received[0].content
        assert raw.isascii()
        headers = re.findall(rb"Content-Description: ([^\r\n]*(?:\r\n [^\r\n]*)*)", raw)
        assert headers[0] == ALTS[0].encode()
        assert headers[2].startswith(b"=?utf-8?b?")

    async def test_an_image_without_alt_text_has_no_content_description(
        self, serve: Serve, publisher: Any, tmp_path: Path
    ) -> None:
        """Alt text for the first image only: the others carry no empty header."""
        server = serve()
        await publisher().publish(album(tmp_path / "inbox", 3, alt=("Only the first",)))
        assert descriptions(server.received[0].parsed()) == ["Only the first", None, None]

    async def test_html_shows_every_image_in_order_with_its_alt_text_escaped(
        self, serve: Serve, publisher: Any, tmp_path: Path
    ) -> None:
        """With html: true each image is shown by its Content-ID, in order, its alt text
        escaped in the alt attribute; an image without alt text gets the stem."""
        server = serve()
        alts = (*ALTS[:2], "")
        await publisher(html=True).publish(album(tmp_path / "inbox", 3, alt=alts))
        message = server.received[0].parsed()
        html_part = message.get_body(("html",))
        assert html_part is not None
        page = html_part.get_content()
        tags = re.findall(r'<img src="cid:([^"]+)" alt="([^"]*)"', page)
        cids = [part["Content-ID"].strip("<>") for part in attachments(message)]
        assert [cid for cid, _ in tags] == cids
        assert [alt for _, alt in tags] == [
            "A red sunset over the lake",
            "The &quot;same&quot; lake &lt;at&gt; night &amp; calm",
            "walk",
        ]

    async def test_twelve_images_arrive_in_one_message_in_order(
        self, serve: Serve, publisher: Any, tmp_path: Path
    ) -> None:
        """A 12-image album is one message of 12 attachments, in order, each its own bytes."""
        server = serve()
        alts = tuple(f"Photo {number} of 12" for number in range(1, 13))
        post = album(tmp_path / "inbox", 12, alt=alts)
        result = await publisher().publish(post)
        assert result.ok, result.error
        [received] = server.received
        parts = attachments(received.parsed())
        assert [part.get_filename() for part in parts] == [f"walk.{n}.jpg" for n in range(1, 13)]
        assert [part.get_content() for part in parts] == [p.read_bytes() for p in post.images]
        assert descriptions(received.parsed()) == list(alts)


class TestContentWarning:
    @pytest.mark.parametrize(
        ("warning", "subject"),
        [
            (ContentWarning("nudity"), "[CW: nudity] Red sky"),
            (ContentWarning("graphic-media"), "[CW: graphic media] Red sky"),
            (
                ContentWarning("sexual", "Beach day, nothing shown"),
                "[CW: Beach day, nothing shown] Red sky",
            ),
            (None, "Red sky"),
        ],
    )
    async def test_the_warning_prefixes_the_subject_by_default(
        self,
        serve: Serve,
        publisher: Any,
        tmp_path: Path,
        warning: ContentWarning | None,
        subject: str,
    ) -> None:
        """The default content_warning_subject puts "[CW: ...] " in front of the subject."""
        server = serve()
        await publisher().publish(album(tmp_path / "inbox", 1, content_warning=warning))
        assert server.received[0].parsed()["Subject"] == subject

    async def test_an_empty_content_warning_subject_leaves_the_subject_alone(
        self, serve: Serve, publisher: Any, tmp_path: Path
    ) -> None:
        """content_warning_subject: "" sends the subject as the template makes it."""
        server = serve()
        post = album(tmp_path / "inbox", 2, content_warning=ContentWarning("porn"))
        await publisher(content_warning_subject="").publish(post)
        assert server.received[0].parsed()["Subject"] == "Red sky"

    async def test_a_template_of_its_own_and_outside_ascii(
        self, serve: Serve, publisher: Any, tmp_path: Path
    ) -> None:
        """The owner's own wording, in any script, arrives as written."""
        server = serve()
        post = album(tmp_path / "inbox", 1, content_warning=ContentWarning("nudity", "Akt"))
        await publisher(content_warning_subject="⚠ {warning} — ").publish(post)
        assert server.received[0].parsed()["Subject"] == "⚠ Akt — Red sky"

    @pytest.mark.parametrize(
        ("template", "expected"),
        [("[{kind}] ", "unknown field {kind}; the fields are {warning}"), ("{warning", "brace")],
    )
    def test_a_bad_template_is_refused_when_the_config_loads(
        self, template: str, expected: str
    ) -> None:
        """An unknown field or a lone brace is a config error naming the key."""
        values = {
            "enabled": True,
            "host": "mail.example.com",
            "sender": "me@example.com",
            "recipients": "post@example.com",
            "content_warning_subject": template,
        }
        with pytest.raises(ValidationError, match="content_warning_subject") as error:
            EmailSettings.model_validate(values)
        assert expected in str(error.value)


def _jpeg_bytes() -> int:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (100, 100), os.urandom(30_000)).save(buffer, "JPEG", quality=90)
    return len(buffer.getvalue())


class TestSplit:
    """Three ~10 KB noise images (~14 KB each in base64) against a 35,000-byte SIZE: two fit."""

    SIZE = 35_000

    async def test_an_album_over_the_servers_size_is_split_in_order_with_a_note(
        self, serve: Serve, publisher: Any, tmp_path: Path
    ) -> None:
        """Two messages, "(1/2)" with images 1-2 and "(2/2)" with image 3, each under SIZE,
        each with the caption; the result notes the split; each recipient is marked per part."""
        assert 8_000 < _jpeg_bytes() < 13_000  # the sizes the limit below is chosen for
        server = serve(size_limit=self.SIZE)
        post = album(tmp_path / "inbox", 3, noise=True, alt=ALTS)
        sender = publisher()
        result = await sender.publish(post)
        assert result.ok, result.error
        messages = [received.parsed() for received in server.received]
        assert [m["Subject"] for m in messages] == ["Red sky (1/2)", "Red sky (2/2)"]
        assert all(len(received.content) <= self.SIZE for received in server.received)
        names = [[p.get_filename() for p in attachments(m)] for m in messages]
        assert names == [["walk.1.jpg", "walk.2.jpg"], ["walk.3.jpg"]]
        assert [descriptions(m) for m in messages] == [list(ALTS[:2]), [ALTS[2]]]
        for message in messages:
            body = message.get_body(("plain",))
            assert body is not None
            assert body.get_content() == "Red sky\n"
        assert result.notes == (
            "the album of 3 images is larger than the server takes in one message "
            "(35,000 bytes): sent as 2 messages, (1/2) with images 1-2, (2/2) with image 3",
        )
        assert result.remote_id == messages[0]["Message-ID"]
        known = await sender.context.progress.for_post(post, "email").known()
        assert {name: mark.state for name, mark in known.items()} == {
            "post@example.com (1/2)": "sent",
            "post@example.com (2/2)": "sent",
        }

    async def test_a_crash_between_the_messages_resumes_with_the_second(
        self, serve: Serve, publisher: Any, tmp_path: Path
    ) -> None:
        """Stopped dead while the server sits on the second message's MAIL, then started
        again: only "(2/2)" is sent, once; "(1/2)" is not sent again."""
        server = serve(size_limit=self.SIZE, behaviour=Behaviour(mail_stalls={2: 30}))
        post = album(tmp_path / "inbox", 3, noise=True)
        async with anyio.create_task_group() as group:
            group.start_soon(publisher().publish, post)
            while server.mail_commands < 2:  # noqa: ASYNC110 - the server's thread counts
                await anyio.sleep(0.01)
            group.cancel_scope.cancel()  # the daemon dies here
        assert [m.parsed()["Subject"] for m in server.received] == ["Red sky (1/2)"]
        result = await publisher().publish(post)  # a new daemon, the same ledger
        assert result.ok, result.error
        subjects = [m.parsed()["Subject"] for m in server.received]
        assert subjects == ["Red sky (1/2)", "Red sky (2/2)"]
        assert server.mail_commands == 3

    async def test_a_message_of_the_split_refused_holds_back_the_rest(
        self, serve: Serve, publisher: Any, tmp_path: Path
    ) -> None:
        """A 5xx to "(1/2)": nothing more is sent, the result says which part was refused;
        the next attempt sends both, in order."""
        refusal = "554 5.7.1 Not now"
        server = serve(size_limit=self.SIZE, behaviour=Behaviour(data_replies=[refusal]))
        post = album(tmp_path / "inbox", 3, noise=True)
        first = await publisher().publish(post)
        assert not first.ok
        assert first.error is not None
        assert "554 5.7.1 Not now" in first.error
        assert (server.received, server.mail_commands) == ([], 1)
        second = await publisher().publish(post)
        assert second.ok, second.error
        assert [m.parsed()["Subject"] for m in server.received] == [
            "Red sky (1/2)",
            "Red sky (2/2)",
        ]

    async def test_an_album_that_fits_keeps_the_plain_destination_names(
        self, serve: Serve, publisher: Any, tmp_path: Path
    ) -> None:
        """Under the server's SIZE an album is one message and its destination is the address,
        as for a one-image post."""
        serve(size_limit=1_000_000)
        post = album(tmp_path / "inbox", 3, noise=True)
        sender = publisher()
        assert (await sender.publish(post)).ok
        known = await sender.context.progress.for_post(post, "email").known()
        assert list(known) == ["post@example.com"]


class TestSplitPlan:
    @pytest.mark.parametrize(
        ("sizes", "whole", "limit", "groups"),
        [
            ([10, 10, 10], 40, None, [range(3)]),  # no SIZE: one message
            ([10, 10, 10], 40, 40, [range(3)]),  # fits exactly
            ([10_000] * 3, 30_100, 22_000, [range(2), range(2, 3)]),
            ([10_000] * 3, 30_100, 21_000, [range(1), range(1, 2), range(2, 3)]),  # the margin
            ([50_000, 10, 10], 50_120, 20_000, [range(1), range(1, 3)]),  # too large: alone
        ],
    )
    def test_images_are_grouped_in_order_under_the_limit(
        self, sizes: list[int], whole: int, limit: int | None, groups: list[range]
    ) -> None:
        """Consecutive groups, each with the shared part and a margin under the limit."""
        assert split_to_fit(sizes, whole, limit) == groups

    @pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 114, 1000, 123_457])
    def test_a_parts_size_by_count_is_its_size_as_sent(self, size: int) -> None:
        """The base64 counted (not encoded) gives the part's exact bytes, for every remainder."""
        attachment = Attachment(os.urandom(size), "image/jpeg", "é.jpg", (1, 1))
        built = build_message(
            EmailSettings.model_validate(
                {"enabled": True, "host": "h", "sender": "a@b.c", "recipients": "d@e.f"}
            ),
            "stem",
            "",
            Content((attachment,), ("Nuit étoilée",)),
            datetime.now().astimezone(),
        )
        *_, part = built.walk()  # the message, its text, then the image
        assert part.get_content_maintype() == "image"
        assert image_part_size(attachment, "Nuit étoilée") == len(as_smtp_bytes(part))


async def test_the_password_stays_out_of_an_albums_refusal(
    serve: Serve, publisher: Any, tmp_path: Path
) -> None:
    """A wrong password on the album's first question (the server's SIZE): the error names
    the login, and neither the password nor its base64 (quoted back by the server) is in it."""
    password = "hunter2-Sekr1t"
    server = serve(behaviour=Behaviour(users={"me@example.com": "right"}, echo_auth=True))
    sender = publisher(username="me@example.com", password=password)
    result = await sender.publish(album(tmp_path / "inbox", 3))
    assert not result.ok
    assert result.error is not None
    assert "refused the login of me@example.com" in result.error
    assert server.echoed
    for secret in (password, *server.echoed):
        assert secret not in result.error
    assert server.mail_commands == 0
