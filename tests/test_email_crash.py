"""An e-mail album split by the server's SIZE, with dropcast killed (SIGKILL) between its
messages: the restarted daemon sends only the message that had not gone, once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from PIL import Image

from tests.fakes.smtp_server import Behaviour, FakeSMTPServer
from tests.test_crash import Dropcast, killed_after, record, wait_until

SIZE = 35_000  # bytes: two of the ~10 KB noise images below fit in one message, three do not
ALTS = ["The first photo", "The second photo", "The third photo"]


@pytest.fixture
def dropcast(tmp_path: Path) -> Iterator[Dropcast]:
    yield from killed_after(tmp_path)


def _configure(runner: Dropcast, smtp_port: int) -> None:
    platforms = {
        "email": {
            "enabled": True,
            "host": "127.0.0.1",
            "port": smtp_port,
            "security": "none",
            "sender": "me@example.com",
            "recipients": ["post@example.com"],
            "timeout": 10,
        }
    }
    runner.write_config(platforms, publish_timeout=60, log={"format": "json", "level": "info"})


def _drop_album(inbox: Path, stem: str) -> list[bytes]:
    """Three noise images (about 10 KB each as JPEG), then the caption with their alt text."""
    inbox.mkdir(parents=True, exist_ok=True)
    for number in (1, 2, 3):
        pixels = Image.frombytes("RGB", (100, 100), os.urandom(30_000))
        pixels.save(inbox / f"{stem}.{number}.jpg", "JPEG", quality=90)
    images = [(inbox / f"{stem}.{number}.jpg").read_bytes() for number in (1, 2, 3)]
    front_matter = yaml.safe_dump({"alt": ALTS, "content_warning": "nudity"})
    caption = f"---\n{front_matter}---\nAlbum {stem}\n"
    (inbox / f"{stem}.txt").write_text(caption, encoding="utf-8")
    return images


@pytest.mark.timeout(120)
def test_killed_between_the_messages_of_a_split_album_sends_the_rest_once(
    dropcast: Dropcast, free_tcp_port: int
) -> None:
    """Killed while the server holds the second message's MAIL (the first delivered), then
    started again: "(2/2)" arrives once, "(1/2)" is not sent again, every image once in
    order with its alt text, and the record is published with the split noted."""
    behaviour = Behaviour(mail_stalls={2: 60})
    with FakeSMTPServer(free_tcp_port, size_limit=SIZE, behaviour=behaviour) as server:
        _configure(dropcast, free_tcp_port)
        dropcast.start()
        images = _drop_album(dropcast.inbox, "walk")
        wait_until(lambda: server.mail_commands >= 2, "the second message's MAIL", within=60)
        dropcast.kill()
        assert [m.parsed()["Subject"] for m in server.received] == ["[CW: nudity] Album walk (1/2)"]
        behaviour.mail_stalls.clear()
        dropcast.start()
        wait_until(lambda: list((dropcast.folder / "archive").glob("*/walk.result.json")), "filed")
        dropcast.stop()
    messages = [received.parsed() for received in server.received]
    assert [m["Subject"] for m in messages] == [
        "[CW: nudity] Album walk (1/2)",
        "[CW: nudity] Album walk (2/2)",
    ]
    parts = [part for m in messages for part in m.iter_attachments()]
    assert [part.get_content() for part in parts] == images
    assert [part["Content-Description"] for part in parts] == ALTS
    result = record(dropcast, "walk")
    assert result["outcome"] == "published", result
    notes = " ".join(result["platforms"]["email"].get("notes", []))
    assert "sent as 2 messages, (1/2) with images 1-2, (2/2) with image 3" in notes
