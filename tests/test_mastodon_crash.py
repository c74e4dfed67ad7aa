"""A kill -9 in the middle of a Mastodon thread: the restarted daemon posts each part once."""

from __future__ import annotations

import itertools
from pathlib import Path

from tests.conftest import make_image
from tests.fakes.mastodon_api import TOKEN, fake_mastodon_in_a_thread
from tests.test_crash import Dropcast, wait_until
from tests.test_mastodon import LONG_CAPTION


def configure(dropcast: Dropcast, url: str) -> None:
    platforms = {
        "mastodon": {
            "enabled": True,
            "api_base_url": url,
            "access_token": "${MASTODON_TOKEN}",
            "request_timeout": 30,
        }
    }
    dropcast.write_config(platforms, publish_timeout=60)


def test_a_kill_in_the_middle_of_a_thread_resumes_it_without_posting_twice(
    tmp_path: Path,
) -> None:
    """Killed while part 2 was on its way (made, unanswered): after the restart part 2 is
    found on the account, the rest reply to it, and every part is there once."""
    with fake_mastodon_in_a_thread() as fake:
        dropcast = Dropcast(tmp_path)
        dropcast.environ["MASTODON_TOKEN"] = TOKEN
        dropcast.inbox.mkdir()
        configure(dropcast, fake.url)
        fake.slow_status(120, after=1)
        dropcast.start()
        try:
            make_image(dropcast.inbox / "lake.jpg")
            (dropcast.inbox / "lake.txt").write_text(LONG_CAPTION, encoding="utf-8")
            wait_until(lambda: len(fake.statuses) == 2, "part 2 on the server")
            dropcast.kill()
            dropcast.start()
            wait_until(lambda: len(dropcast.archived()) == 3, "the archive", within=60)
        finally:
            dropcast.stop()
        statuses = fake.posted()
    assert len(statuses) == 4
    for parent, child in itertools.pairwise(statuses):
        assert child["in_reply_to_id"] == parent["id"]
    texts = " ".join(fake.text_of(s) for s in statuses)
    assert " ".join(texts.split()) == " ".join(LONG_CAPTION.split())
    assert any(e["event"] == "mastodon.part_found" for e in dropcast.events())
    assert TOKEN not in dropcast.log.read_text(encoding="utf-8")
