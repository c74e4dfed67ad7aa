"""A Telegram post of two albums with dropcast killed (SIGKILL) while the second was on its
way: the first album is never sent again, the second is left to the owner (it may have
arrived), and `dropcast retry` sends only what the chat lacks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import write_album
from tests.fakes.telegram_api import TOKEN, FakeTelegram, fake_telegram_in_a_thread
from tests.test_crash import Dropcast, killed_after, record, wait_until


@pytest.fixture
def dropcast(tmp_path: Path) -> Iterator[Dropcast]:
    yield from killed_after(tmp_path)


def _configure(runner: Dropcast, fake: FakeTelegram) -> None:
    platforms = {
        "telegram": {
            "enabled": True,
            "token": "${TELEGRAM_BOT_TOKEN}",
            "chat_ids": ["@channel"],
            "api_server": fake.url,
        }
    }
    runner.write_config(platforms, publish_timeout=60, log={"format": "json", "level": "info"})
    runner.environ["TELEGRAM_BOT_TOKEN"] = TOKEN


def _methods(fake: FakeTelegram) -> list[tuple[str, int]]:
    """Each request the fake received: its method, and how many images it carried."""
    return [(r.method, r.fields.get("media", "").count("attach://")) for r in fake.requests]


@pytest.mark.timeout(150)
def test_killed_during_the_second_album_never_sends_the_first_again(dropcast: Dropcast) -> None:
    with fake_telegram_in_a_thread() as fake:
        fake.slow(60, method="sendMediaGroup", skip=1, times=1)  # the second album's answer
        _configure(dropcast, fake)
        dropcast.start()
        images = write_album(dropcast.inbox, "walk", 12, "Twelve views. " * 100)
        originals = [image.read_bytes() for image in images]
        wait_until(lambda: len(fake.requests) >= 2, "the second album", within=60)
        dropcast.kill()
        dropcast.start()
        filed = dropcast.folder / "archive"
        wait_until(lambda: list(filed.glob("*/walk.result.json")), "the post filed", within=60)
        dropcast.stop()
        after_restart = _methods(fake)
        telegram = record(dropcast, "walk")["platforms"]["telegram"]
        config = str(dropcast.folder / "config.yaml")
        retried = subprocess.run(
            [sys.executable, "-m", "daemon", "--config", config, "retry", "walk"],
            env={**os.environ, **dropcast.environ},
            capture_output=True,
            check=False,
            timeout=60,
        )
        albums = [fake.requests[0], fake.requests[2]]  # the first, and the retry's second
        every = [item["upload"].data for album in albums for item in album.media]
    assert after_restart == [("sendMediaGroup", 6), ("sendMediaGroup", 6)]  # nothing more
    states = {name: d["state"] for name, d in telegram["destinations"].items()}
    assert states == {"@channel#0": "sent", "@channel#album2": "unknown"}
    assert retried.stdout.decode().splitlines()[0] == (
        "walk: telegram: answer unknown: sending again to @channel#album2; what arrived last "
        "time will then be there twice"
    ), retried.stderr.decode()
    assert _methods(fake)[2:] == [("sendMediaGroup", 6), ("sendMessage", 0)]
    assert every == originals  # the first album once, and the second as the retry sent it
    retried_record = record(dropcast, "walk")
    assert retried_record["outcome"] == "published", retried_record
    assert TOKEN not in dropcast.log.read_text(encoding="utf-8")
