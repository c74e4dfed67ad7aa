"""The real daemon and watcher publishing to a fake Instagram, next to another platform."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from daemon.ledger import Ledger, ledger_path
from daemon.post import read_post
from daemon.publishers.instagram.publisher import FOUND_NOTE
from daemon.registry import Registry
from tests.conftest import (
    archived,
    running_daemon,
    wait_for,
    write_album,
    write_config,
    write_post,
)
from tests.fakes.instagram import (
    DAEMON_SETTINGS,
    PASSWORD,
    USERNAME,
    FakeInstagram,
    feed_with,
    offline_instagram,
)

INSTAGRAM = DAEMON_SETTINGS


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeInstagram]:
    with offline_instagram(monkeypatch) as fake:
        yield fake


def record(folder: Path) -> dict[str, Any]:
    [path] = [p for p in archived(folder) if p.name.endswith(".result.json")]
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


async def test_a_dropped_post_is_published_to_instagram_and_recorded(
    tmp_path: Path, registry: Registry, fake: FakeInstagram
) -> None:
    """The record of a post published to Instagram holds the media code and the post's URL."""
    platforms = {"instagram": INSTAGRAM, "recording": {"enabled": True}}
    config = write_config(tmp_path, platforms)
    environ = {"INSTAGRAM_PASSWORD": PASSWORD}
    async with running_daemon(config, registry, environ=environ):
        write_post(tmp_path / "inbox", "harbour", "Boats at dawn #harbour")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    result = record(tmp_path)["platforms"]["instagram"]
    assert (result["ok"], result["id"], result["url"]) == (
        True,
        "DCfakeCODE1",
        "https://www.instagram.com/p/DCfakeCODE1/",
    )
    assert fake.names[-2:] == ["rupload", "configure"]


async def test_a_paused_instagram_leaves_the_other_platforms_alone(
    tmp_path: Path, registry: Registry, fake: FakeInstagram
) -> None:
    """A challenge fails Instagram only: the other platform publishes and the post is partial."""
    fake.reply("login", 400, "challenge_required.json")
    platforms = {"instagram": INSTAGRAM, "recording": {"enabled": True}}
    config = write_config(tmp_path, platforms)
    with capture_logs() as logs:
        async with running_daemon(config, registry, environ={"INSTAGRAM_PASSWORD": PASSWORD}):
            write_post(tmp_path / "inbox", "harbour")
            await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    data = record(tmp_path)
    assert data["outcome"] == "partial"
    assert data["platforms"]["recording"]["ok"] is True
    assert "security challenge" in data["platforms"]["instagram"]["error"]
    assert PASSWORD not in json.dumps(data) + repr(logs)


def crashed_while_sending(folder: Path, stem: str, caption: str) -> None:
    """A post in the inbox whose Instagram delivery was under way when dropcast was killed."""
    image = write_post(folder / "inbox", stem, caption)
    post = read_post(stem, image, folder / "inbox" / f"{stem}.txt")
    ledger = Ledger(ledger_path(folder / "state"))
    try:
        row = ledger.open_post(post.identity, post.stem, list(post.files))
        ledger.mark_pending(row.id, "instagram")
    finally:
        ledger.close()


async def test_after_a_crash_a_post_already_on_instagram_is_not_posted_again(
    tmp_path: Path, registry: Registry, fake: FakeInstagram
) -> None:
    """The post's caption is among the account's recent posts: recorded as sent, nothing uploaded."""
    fake.reply("user_feed", 200, feed_with(("DCfakeCODE1", "Boats at dawn #harbour #sea")))
    config = write_config(tmp_path, {"instagram": INSTAGRAM})
    crashed_while_sending(tmp_path, "harbour", "Boats at dawn #harbour #sea")
    async with running_daemon(config, registry, environ={"INSTAGRAM_PASSWORD": PASSWORD}):
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    data = record(tmp_path)
    result = data["platforms"]["instagram"]
    assert (data["outcome"], result["ok"], result["id"], result["notes"]) == (
        "published",
        True,
        "DCfakeCODE1",
        [FOUND_NOTE],
    )
    assert "user_feed" in fake.names
    assert "rupload" not in fake.names
    assert "configure" not in fake.names


async def test_after_a_crash_a_post_missing_from_instagram_is_posted_once(
    tmp_path: Path, registry: Registry, fake: FakeInstagram
) -> None:
    """None of the recent posts has the caption: the post is uploaded, once."""
    config = write_config(tmp_path, {"instagram": INSTAGRAM})
    crashed_while_sending(tmp_path, "harbour", "Boats at night")
    async with running_daemon(config, registry, environ={"INSTAGRAM_PASSWORD": PASSWORD}):
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    assert record(tmp_path)["platforms"]["instagram"]["ok"] is True
    assert fake.names.count("user_feed") == 1
    assert fake.names.count("configure") == 1
    assert fake.names.index("user_feed") < fake.names.index("rupload")


async def test_after_a_crash_a_paused_instagram_is_neither_asked_nor_sent_the_post(
    tmp_path: Path, registry: Registry, fake: FakeInstagram
) -> None:
    """While paused Instagram gets no request and the post is not sent again: it stays unknown."""
    until = datetime.now(UTC) + timedelta(hours=1)
    limits = tmp_path / "state" / "instagram" / f"{USERNAME}.limits.json"
    limits.parent.mkdir(parents=True)
    limits.write_text(json.dumps({"paused_until": until.isoformat(), "pause_reason": "a test"}))
    platforms = {"instagram": INSTAGRAM, "recording": {"enabled": True}}
    config = write_config(tmp_path, platforms)
    crashed_while_sending(tmp_path, "harbour", "Boats at dawn")
    with capture_logs() as logs:
        async with running_daemon(config, registry, environ={"INSTAGRAM_PASSWORD": PASSWORD}):
            await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    data = record(tmp_path)
    instagram = data["platforms"]["instagram"]
    assert (data["outcome"], instagram["ok"], instagram["state"]) == ("partial", False, "unknown")
    assert "platform.check_failed" in [event["event"] for event in logs]
    assert fake.names == []


def ledger_feed(folder: Path) -> Any:
    """The "feed" destination of the ledger's one post on Instagram, or None."""
    ledger = Ledger(ledger_path(folder / "state"))
    try:
        return ledger.destinations(1, "instagram").get("feed")
    finally:
        ledger.close()


async def test_an_answer_after_publish_timeout_is_kept_in_the_ledger(
    tmp_path: Path, registry: Registry, fake: FakeInstagram
) -> None:
    """publish_timeout inside configure: recorded unknown at once; the late answer goes to the
    ledger as the feed destination, sent, and configure was sent once."""
    answer = fake.hold("configure")
    config = write_config(tmp_path, {"instagram": INSTAGRAM}, publish_timeout=0.5)
    async with running_daemon(config, registry, environ={"INSTAGRAM_PASSWORD": PASSWORD}):
        write_post(tmp_path / "inbox", "harbour", "Boats at dawn")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
        instagram = record(tmp_path)["platforms"]["instagram"]
        answer.set()
        feed = await wait_for(
            lambda: (f := ledger_feed(tmp_path)) is not None and f.state == "sent" and f,
            what="the late answer in the ledger",
        )
    assert (instagram["ok"], instagram["state"]) == (False, "unknown")
    assert (feed.remote_id, feed.url) == ("DCfakeCODE1", "https://www.instagram.com/p/DCfakeCODE1/")
    assert fake.names.count("configure") == 1


ALBUM_CAPTION = """---
alt:
{alt}
content_warning: nudity
---
A walk by the lake
"""


async def test_a_dropped_album_of_12_goes_as_two_carousels_with_alt_text_and_a_note(
    tmp_path: Path, registry: Registry, fake: FakeInstagram
) -> None:
    """walk.1.jpg … walk.12.jpg with alt text and a content warning: two carousels (10, 2),
    each item with its alt text, the record naming both and saying what Instagram lacks."""
    config = write_config(tmp_path, {"instagram": INSTAGRAM})
    alt = [f"Picture {number} of the walk" for number in range(1, 13)]
    caption = ALBUM_CAPTION.format(alt="\n".join(f"  - {text}" for text in alt))
    async with running_daemon(config, registry, environ={"INSTAGRAM_PASSWORD": PASSWORD}):
        write_album(tmp_path / "inbox", "walk", 12, caption)
        await wait_for(lambda: len(archived(tmp_path)) == 14, what="the archive")
    result = record(tmp_path)["platforms"]["instagram"]
    assert (result["ok"], result["id"]) == (True, "DCfakeALBUM1")
    first, second = fake.carousels.posted
    assert [item.alt for item in (*first.items, *second.items)] == alt
    assert (first.caption, second.caption) == (
        "A walk by the lake\n\n(1/2)",
        "A walk by the lake\n\n(2/2)",
    )
    assert "carousel 2: https://www.instagram.com/p/DCfakeALBUM2/" in result["notes"]
    assert "Instagram has no content warning: posted without one" in result["notes"]
    assert fake.names.count("configure_sidecar") == 2
