"""The real daemon and watcher publishing to a fake Instagram, next to another platform."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from daemon.publishers.base import Registry
from tests.conftest import archived, running_daemon, wait_for, write_config, write_post
from tests.fakes.instagram import (
    PASSWORD,
    USERNAME,
    FakeInstagram,
    fake_instagram,
)
from tests.fakes.instagram.network import (
    refuse_network,
    skip_instagrapi_sleeps,
)

INSTAGRAM = {
    "enabled": True,
    "username": USERNAME,
    "password": "${INSTAGRAM_PASSWORD}",
    "transport": "requests",
    "delay_range": [0, 0],
    "request_timeout": 5,
}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeInstagram]:
    refuse_network(monkeypatch)
    skip_instagrapi_sleeps(monkeypatch)
    with fake_instagram() as fake:
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
