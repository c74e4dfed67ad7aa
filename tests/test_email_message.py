"""The e-mail platform's settings, subject title, message layout and image shrinking (no server)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat
from pydantic import ValidationError

from daemon.publishers.email import EmailSettings
from daemon.publishers.email.image import ImageTooLargeError, load_attachment, shrink_to_fit
from daemon.publishers.email.message import (
    ENCODED_WORD_LIMIT,
    LINE_LIMIT,
    TITLE_LIMIT,
    Content,
    as_smtp_bytes,
    build_message,
    content_disposition,
    cut_on_word,
    title_of,
)
from daemon.retry import RetryPolicy
from tests.conftest import make_image
from tests.fakes.smtp_server import file_names


def settings(**values: Any) -> EmailSettings:
    base: dict[str, Any] = {
        "enabled": True,
        "host": "smtp.example.com",
        "sender": "me@example.com",
        "recipients": ["post@example.com"],
    }
    return EmailSettings.model_validate({**base, **values})


def problem(**values: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        settings(**values)
    return str(raised.value)


@pytest.mark.parametrize(
    ("caption", "title"),
    [
        ("Red sky", "Red sky"),
        ("\n\n  Red sky  \nsecond line", "Red sky"),
        ("word " * 15 + "end", "word " * 15 + "end"),  # 78 characters: kept whole
        ("word " * 20, ("word " * 15).strip() + "…"),
        ("x" * 100, "x" * 77 + "…"),
        ("", "the-stem"),
        (" \n\t\n", "the-stem"),
    ],
    ids=[
        "short",
        "first-non-blank-line",
        "exactly-78",
        "cut-at-word",
        "one-long-word",
        "empty",
        "blank",
    ],
)
def test_title_is_the_first_line_cut_on_a_word(caption: str, title: str) -> None:
    """The title is the caption's first non-blank line, at most 78 characters, cut between words."""
    assert title_of(caption, "the-stem") == title
    assert len(title) <= TITLE_LIMIT


def test_cut_on_word_never_exceeds_the_limit() -> None:
    """Every cut of a long line of short and long words fits the limit exactly or under it."""
    text = "Ünïcode wörds 🌅 and averyveryverylongwordthatgoesonandon " * 5
    for limit in range(5, 90):
        assert len(cut_on_word(text, limit)) <= limit


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("tls", 465), ("none", 25)])
def test_port_defaults_to_the_one_for_the_security(security: str, port: int) -> None:
    """Without `port`, starttls uses 587, tls 465 and none 25."""
    assert settings(security=security).smtp_port == port


def test_a_single_recipient_may_be_a_plain_string() -> None:
    """`recipients: post@example.com` is a list of one."""
    assert settings(recipients="post@example.com").recipients == ("post@example.com",)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"subject": "{title} {caption}"}, "unknown field {caption}"),
        ({"subject": "{0}"}, "unknown field {0}"),
        ({"body": "{caption} {user.password}"}, "unknown field {user.password}"),
        ({"subject": "{title"}, "a literal brace is written {{ or }}"),
        ({"subject": "{title:d}"}, "cannot be filled in"),
        ({"username": "me"}, "username and password go together"),
        ({"password": "secret"}, "username and password go together"),
        ({"sender": "not an address"}, "is not an e-mail address"),
        ({"recipients": ["a@b.c", "a@b.c\nBcc: x@y.z"]}, "is not an e-mail address"),
        ({"recipients": []}, "at least 1 item"),
        ({"sender": "mé@exämple.com"}, "write the address in ASCII"),
        ({"ca_file": "/nonexistent/ca.pem"}, "no such file: /nonexistent/ca.pem"),
        ({"security": "ssl"}, "'starttls', 'tls' or 'none'"),
        ({"max_attachment_mb": 0}, "greater than 0"),
        ({"max_retries": -1}, "greater than or equal to 0"),
        ({"retry_base_delay": -1}, "greater than or equal to 0"),
    ],
    ids=[
        "subject-field",
        "positional-field",
        "attribute-field",
        "open-brace",
        "bad-format",
        "username-alone",
        "password-alone",
        "bad-sender",
        "header-injection",
        "no-recipients",
        "non-ascii-address",
        "missing-ca-file",
        "unknown-security",
        "zero-limit",
        "negative-retries",
        "negative-retry-delay",
    ],
)
def test_bad_settings_are_refused_with_the_reason(values: dict[str, Any], expected: str) -> None:
    """Settings that could not work are refused when the config is loaded, saying why."""
    assert expected in problem(**values)


def test_the_call_retry_keys_default_to_three_retries_from_one_second_up_to_a_minute() -> None:
    """Without max_retries, retry_base_delay and retry_max_delay, a call is retried as before."""
    assert settings().retry_policy == RetryPolicy(max_retries=3, base_delay=1.0, max_delay=60.0)


def test_the_call_retry_keys_are_read_from_the_section() -> None:
    """max_retries, retry_base_delay and retry_max_delay set the policy the publisher retries by."""
    values = {"max_retries": 5, "retry_base_delay": 0.5, "retry_max_delay": 10}
    assert settings(**values).retry_policy == RetryPolicy(5, 0.5, 10.0)


def test_a_named_sender_is_accepted_and_its_address_used_for_the_envelope() -> None:
    """`sender: Name <me@example.com>` is the From header; the envelope uses the bare address."""
    assert settings(sender="Dropcast <me@example.com>").sender_address == "me@example.com"


def _attachment(tmp_path: Path) -> Content:
    return Content((load_attachment(make_image(tmp_path / "a.jpg"), 10_000_000),))


def _as_sent(message: Message) -> EmailMessage:
    """The message as a receiving server parses it."""
    parsed = message_from_bytes(as_smtp_bytes(message), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_the_plain_layout_is_text_then_the_attachment(tmp_path: Path) -> None:
    """Without html the message is multipart/mixed: the text part, then the image attachment."""
    now = datetime.now().astimezone()
    message = _as_sent(build_message(settings(), "a", "Caption", _attachment(tmp_path), now))
    assert message.get_content_type() == "multipart/mixed"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "image/jpeg",
    ]


def test_the_html_layout_keeps_the_image_a_top_level_part(tmp_path: Path) -> None:
    """With html the message is related[alternative[text, html], image]."""
    now = datetime.now().astimezone()
    built = build_message(settings(html=True), "a", "Caption", _attachment(tmp_path), now)
    message = _as_sent(built)
    layout = [
        (part.get_content_type(), [p.get_content_type() for p in part.iter_parts()])
        for part in message.iter_parts()
    ]
    assert message.get_content_type() == "multipart/related"
    assert layout == [("multipart/alternative", ["text/plain", "text/html"]), ("image/jpeg", [])]


def test_a_newline_in_the_stem_does_not_break_the_subject(tmp_path: Path) -> None:
    """File names may hold line breaks; the subject and file name stay on one line."""
    now = datetime.now().astimezone()
    message = build_message(
        settings(subject="{stem}"), "two\nlines", "", _attachment(tmp_path), now
    )
    assert message["Subject"] == "two lines"
    assert b"\nlines" not in message.as_bytes()


def test_a_small_image_is_attached_as_it_is(tmp_path: Path) -> None:
    """An image under the limit is sent byte for byte, not resized."""
    image = make_image(tmp_path / "small.png", image_format="PNG")
    attachment = load_attachment(image, 10_000_000)
    assert attachment.data == image.read_bytes()
    assert attachment.resized_from is None
    assert (attachment.content_type, attachment.filename) == ("image/png", "small.png")


def test_shrinking_lowers_quality_then_size_until_it_fits() -> None:
    """A noisy image far over the limit comes out as a smaller JPEG within it."""
    noise = Image.frombytes("RGB", (800, 600), os.urandom(800 * 600 * 3))
    data, quality, size = shrink_to_fit(noise, 60_000)
    assert len(data) <= 60_000
    assert size[0] < 800
    assert size[0] / size[1] == pytest.approx(800 / 600, rel=0.01)
    assert quality in (85, 75, 65, 55)
    with Image.open(io.BytesIO(data)) as decoded:
        assert (decoded.format, decoded.size) == ("JPEG", size)


def test_transparent_areas_become_white_when_shrunk(tmp_path: Path) -> None:
    """A transparent PNG over the limit is re-encoded as JPEG on white, not on black."""
    side = 400
    pixels = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    pixels.putalpha(0)  # noise nobody can see: a large PNG of a fully transparent picture
    image = tmp_path / "clear.png"
    pixels.save(image, "PNG")
    attachment = load_attachment(image, 100_000)
    assert attachment.resized_from == image.stat().st_size
    assert attachment.content_type == "image/jpeg"
    with Image.open(io.BytesIO(attachment.data)) as decoded:
        [(darkest, _)] = ImageStat.Stat(decoded.convert("L")).extrema
        assert darkest >= 250


def test_an_image_that_cannot_fit_says_to_raise_the_limit() -> None:
    """When even a small JPEG is too large, the error names max_attachment_mb."""
    noise = Image.frombytes("RGB", (640, 640), os.urandom(640 * 640 * 3))
    with pytest.raises(ImageTooLargeError, match="raise max_attachment_mb"):
        shrink_to_fit(noise, 1_000)


def test_the_module_loads_without_aiosmtplib_and_leaves_stdlib_email_alone() -> None:
    """Importing every publisher imports no aiosmtplib, and `email` is still the standard library's."""
    code = (
        "import sys\n"
        "from daemon.registry import Registry\n"
        "registry = Registry.discover(packages=('daemon.publishers.email',), entry_point_group=None)\n"
        "assert registry.names == ['email'], registry.names\n"
        "import email.message\n"
        "assert 'daemon' not in email.message.__file__, email.message.__file__\n"
        "assert email.message.EmailMessage\n"
        "assert 'aiosmtplib' not in sys.modules, 'aiosmtplib was imported'\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr


def test_a_long_subject_outside_ascii_arrives_exactly_as_written(tmp_path: Path) -> None:
    """A subject that must be encoded and folded over several lines decodes to the same text,
    with no space added where the folds are; a non-ASCII sender name and file name too."""
    subject = "Été à Zürich 🌅 — 夕焼け, " + "a long evening walk by the lake " * 3
    image = make_image(tmp_path / "Été.jpg")
    message = _as_sent(
        build_message(
            settings(subject="{stem}", sender="Élodie <me@example.com>"),
            subject,
            "Caption",
            Content((load_attachment(image, 10_000_000),)),
            datetime.now().astimezone(),
        )
    )
    assert message["Subject"] == " ".join(subject.split())
    assert message["From"] == "Élodie <me@example.com>"
    [part] = message.iter_attachments()
    assert isinstance(part, EmailMessage)
    assert file_names(part) == ("Ete.jpg", "Été.jpg")


def test_encoded_words_are_at_most_75_characters_on_lines_of_at_most_76(tmp_path: Path) -> None:
    """A long non-ASCII subject is cut into RFC 2047 encoded words of at most 75 characters,
    on lines of at most 76, and decodes to the subject as written."""
    for subject in ("Été " * 40, "夕焼け" * 30, "🌅 a" * 40, "x" * 60 + "é" * 9):
        raw = as_smtp_bytes(
            build_message(
                settings(subject="{stem}"),
                subject,
                "Caption",
                _attachment(tmp_path),
                datetime.now().astimezone(),
            )
        ).decode("ascii")
        header = raw.split("\r\n\r\n")[0]
        words = re.findall(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=", header)
        assert words
        assert max(len(word) for word in words) <= ENCODED_WORD_LIMIT
        lines = [line for line in header.split("\r\n") if "=?" in line]
        assert max(len(line) for line in lines) <= ENCODED_WORD_LIMIT + 1
        assert message_from_bytes(raw.encode(), policy=policy.default)["Subject"] == " ".join(
            subject.split()
        )


@pytest.mark.parametrize(
    ("name", "plain"),
    [
        ("sunset.jpg", "sunset.jpg"),
        ("Été au lac.jpg", "Ete au lac.jpg"),
        ("夕焼け " * 20 + ".jpg", ("___ " * 20).replace(" ", "_")[:56] + ".jpg"),
        (
            "a long plain name " * 6 + ".png",
            ("a long plain name " * 6).replace(" ", "_")[:56] + ".png",
        ),
    ],
    ids=["ascii", "accents", "long-cjk", "long-ascii"],
)
def test_a_file_name_goes_as_rfc_2231_beside_an_ascii_fallback(name: str, plain: str) -> None:
    """A name that is not short plain ASCII goes as `filename*=` (in pieces when long) beside
    an ASCII `filename=`, on lines of at most 78; a short ASCII name as `filename=` alone."""
    part = MIMEBase("image", "jpeg")
    part["Content-Disposition"] = content_disposition("attachment", name)
    raw = part.as_bytes(policy=policy.compat32.clone(linesep="\r\n")).decode("ascii")
    assert max(len(line) for line in raw.split("\r\n")) <= LINE_LIMIT
    parsed = message_from_bytes(raw.encode(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    expected = (plain, None) if name == plain else (plain, name)
    assert file_names(parsed) == expected


def test_a_joined_emoji_in_the_image_name_arrives_whole(tmp_path: Path) -> None:
    """The attachment's name loses only control characters: an emoji's joiner stays."""
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    path = tmp_path / f"{family}\nbeach.jpg"
    Image.new("RGB", (8, 8)).save(path, "JPEG")
    assert load_attachment(path, 10_000_000).filename == f"{family}_beach.jpg"
