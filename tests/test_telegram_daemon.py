"""The telegram platform end to end: the real daemon and watcher, a fake Bot API on 127.0.0.1."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
from structlog.testing import capture_logs

from daemon.registry import Registry
from tests.conftest import (
    archived,
    running_daemon,
    wait_for,
    write_album,
    write_config,
    write_post,
)
from tests.fakes.telegram_api import TOKEN, fake_telegram


async def test_a_dropped_post_reaches_every_chat_and_the_preview(tmp_path: Path) -> None:
    """A post dropped into the inbox arrives whole in both chats, is previewed, and is archived."""
    registry = Registry.discover(
        packages=("daemon.publishers", "tests.fakes.publishers"), entry_point_group=None
    )
    caption = "Été au lac 🌅\n\n" + "The last light over the water. " * 40
    with capture_logs() as logs:
        async with fake_telegram() as fake:
            platforms = {
                "telegram": {
                    "enabled": True,
                    "token": "${TELEGRAM_BOT_TOKEN}",
                    "chat_ids": ["@channel", -100123],
                    "api_server": fake.url,
                },
                "preview": {"enabled": True, "folder": "preview"},
            }
            # The first post imports aiogram (seconds on a slow machine) within its timeout.
            config = write_config(tmp_path, platforms, publish_timeout=50)
            environ = {"TELEGRAM_BOT_TOKEN": TOKEN}
            async with running_daemon(config, registry, environ=environ):
                image = write_post(tmp_path / "inbox", "Lac d'été", caption)
                original = image.read_bytes()
                await wait_for(lambda: len(archived(tmp_path)) == 3, 60, what="the archive")

    for chat in ("@channel", "-100123"):
        photo, rest = fake.sent("sendPhoto", chat), fake.sent("sendMessage", chat)
        assert [request.upload.data for request in photo] == [original]
        assert photo[0].caption is not None
        assert photo[0].caption + "".join(m.text or "" for m in rest) == caption.strip()
    record_file = next(p for p in archived(tmp_path) if p.name.endswith(".result.json"))
    record = json.loads(record_file.read_text(encoding="utf-8"))
    assert record["outcome"] == "published"
    telegram = record["platforms"]["telegram"]
    assert (telegram["ok"], telegram["error"]) == (True, None)
    assert telegram["id"] == "@channel:1 -100123:1"
    assert telegram["url"] == "https://t.me/channel/1"
    assert record["platforms"]["preview"]["ok"] is True
    assert TOKEN not in record_file.read_text(encoding="utf-8") + repr(logs)


async def test_a_lost_answer_is_unknown_and_only_the_owners_retry_sends_that_chat_again(
    tmp_path: Path,
) -> None:
    """A chat whose answer timed out is not sent again by the daemon; the record names it,
    and `dropcast retry` sends it (and only it) once more, saying so first."""
    async with fake_telegram() as fake:
        fake.slow(8, chat="-100123", times=1)  # it posts the photo, but answers too late
        platforms = {
            "telegram": {
                "enabled": True,
                "token": "${TELEGRAM_BOT_TOKEN}",
                "chat_ids": ["@channel", -100123],
                "api_server": fake.url,
                "request_timeout": 3,  # room for the other chat on a loaded machine
            }
        }
        config = write_config(tmp_path, platforms, publish_timeout=50, max_attempts=3)
        environ = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN}
        async with running_daemon(config, Registry.discover(), environ=environ):
            write_post(tmp_path / "inbox", "dusk")
            await wait_for(lambda: len(archived(tmp_path)) == 3, 60, what="the archive")
        sent_by_daemon = [request.chat_id for request in fake.sent("sendPhoto")]
        record_file = next(p for p in archived(tmp_path) if p.name.endswith(".result.json"))
        record = json.loads(record_file.read_text(encoding="utf-8"))
        retried = await anyio.run_process(
            [sys.executable, "-m", "daemon", "--config", str(config), "retry", "dusk"],
            env=environ,
            check=False,
        )
    telegram = record["platforms"]["telegram"]
    assert (record["outcome"], telegram["state"]) == ("partial", "unknown")
    assert telegram["to_do"] == "unknown: check telegram, then `dropcast retry`"
    states = {name: d["state"] for name, d in telegram["destinations"].items()}
    assert states == {"@channel#0": "sent", "-100123#0": "unknown"}
    assert sorted(sent_by_daemon) == ["-100123", "@channel"]  # each once: no blind resend
    assert retried.stdout.decode().splitlines() == [
        "dusk: telegram: answer unknown: sending again to -100123#0; what arrived last time "
        "will then be there twice",
        "dusk: published (telegram: sent)",
    ]
    assert [request.chat_id for request in fake.sent("sendPhoto")][2:] == ["-100123"]


async def test_a_dropped_album_of_twelve_arrives_as_two_hidden_albums(tmp_path: Path) -> None:
    """walk.1.jpg … walk.12.jpg with one walk.txt (alt text, a content warning, 2,000
    characters): two albums of 6 with every photo behind a spoiler, the caption once and its
    rest as a reply, the record noting the split and that Telegram shows no alt text."""
    alt = "".join(f"  - Photo {n} of the lake\n" for n in range(1, 13))
    body = "Twelve views of the lake. " * 77  # 2,002 characters
    caption = f"---\nalt:\n{alt}content_warning: nudity\n---\n{body}"
    async with fake_telegram() as fake:
        platforms = {
            "telegram": {
                "enabled": True,
                "token": "${TELEGRAM_BOT_TOKEN}",
                "chat_ids": ["@channel"],
                "api_server": fake.url,
            }
        }
        config = write_config(tmp_path, platforms, publish_timeout=50)
        environ = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN}
        async with running_daemon(config, Registry.discover(), environ=environ):
            images = write_album(tmp_path / "inbox", "walk", 12, caption)
            originals = [image.read_bytes() for image in images]
            await wait_for(lambda: len(archived(tmp_path)) == 14, 60, what="the archive")
    albums, replies = fake.sent("sendMediaGroup"), fake.sent("sendMessage")
    assert [request.method for request in fake.requests] == ["sendMediaGroup"] * 2 + ["sendMessage"]
    items = [item for album in albums for item in album.media]
    assert [item["upload"].data for item in items] == originals
    assert all(item["type"] == "photo" and item["has_spoiler"] is True for item in items)
    assert [item.get("caption") is not None for item in items] == [True] + [False] * 11
    assert (items[0]["caption"] + (replies[0].text or "")) == body.strip()
    record_file = next(p for p in archived(tmp_path) if p.name.endswith(".result.json"))
    telegram = json.loads(record_file.read_text(encoding="utf-8"))["platforms"]["telegram"]
    assert telegram["ok"] is True
    assert telegram["id"] == "@channel:1"
    states = {name: d["state"] for name, d in telegram["destinations"].items()}
    assert states == {"@channel#0": "sent", "@channel#album2": "sent", "@channel#1": "sent"}
    assert "Telegram shows no alt text" in telegram["notes"]
    assert any(
        note.startswith("12 images sent as 2 albums of 6 and 6") for note in telegram["notes"]
    )
