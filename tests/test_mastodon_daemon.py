"""The mastodon platform end to end: the real daemon and watcher, the fake Mastodon on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from daemon.registry import Registry
from tests.conftest import archived, running_daemon, wait_for, write_config, write_post
from tests.fakes.mastodon_api import TOKEN, FakeMastodon, fake_mastodon
from tests.test_mastodon import LONG_CAPTION


def mastodon_section(fake: FakeMastodon, **settings: Any) -> dict[str, Any]:
    return {
        "mastodon": {
            "enabled": True,
            "api_base_url": fake.url,
            "access_token": "${MASTODON_TOKEN}",
            "retry_base_delay": 0.05,
            "request_timeout": 5,
            **settings,
        }
    }


def record_in(folder: Path) -> tuple[dict[str, Any], str]:
    files = sorted(folder.glob("**/*.result.json"))
    assert len(files) == 1, files
    text = files[0].read_text(encoding="utf-8")
    return json.loads(text), text


async def test_a_dropped_post_with_a_long_caption_arrives_as_a_thread(tmp_path: Path) -> None:
    """A post dropped into the inbox becomes a thread on the account, the record says so, and
    the token is in no log line and no record."""
    with capture_logs() as logs:
        async with fake_mastodon() as fake:
            # The first post imports Mastodon.py (a second or so on a slow machine).
            config = write_config(tmp_path, mastodon_section(fake), publish_timeout=40)
            environ = {**os.environ, "MASTODON_TOKEN": TOKEN}
            async with running_daemon(config, Registry.discover(), environ=environ):
                image = write_post(tmp_path / "inbox", "lake", LONG_CAPTION)
                original = image.read_bytes()
                await wait_for(lambda: len(archived(tmp_path)) == 3, 40, what="the archive")
    statuses = fake.posted()
    assert len(statuses) == 4
    (media,) = statuses[0]["media_attachments"]
    assert fake.uploads[media["id"]] == original
    texts = " ".join(fake.text_of(s) for s in statuses)
    assert " ".join(texts.split()) == " ".join(LONG_CAPTION.split())
    record, text = record_in(tmp_path / "archive")
    mastodon = record["platforms"]["mastodon"]
    assert (record["outcome"], mastodon["ok"], mastodon["id"]) == (
        "published",
        True,
        statuses[0]["id"],
    )
    assert any("split into 4 statuses" in note for note in mastodon["notes"])
    assert TOKEN not in text + repr(logs)


async def test_a_refused_token_fails_the_post_without_showing_it(tmp_path: Path) -> None:
    """A revoked token: the post fails with the key to fix named; the token is nowhere."""
    wrong = "revoked-token-Secret-5813"
    with capture_logs() as logs:
        async with fake_mastodon() as fake:
            config = write_config(tmp_path, mastodon_section(fake), max_attempts=1)
            environ = {**os.environ, "MASTODON_TOKEN": wrong}
            async with running_daemon(config, Registry.discover(), environ=environ):
                write_post(tmp_path / "inbox", "dusk")
                failed = tmp_path / "failed"
                await wait_for(lambda: list(failed.glob("**/*.result.json")), 40, what="failed/")
    record, text = record_in(tmp_path / "failed")
    error = record["platforms"]["mastodon"]["error"]
    assert "401" in error
    assert "access_token" in error
    assert fake.posted() == []
    assert wrong not in text + repr(logs)


def test_a_disabled_mastodon_costs_no_import_of_mastodon_py() -> None:
    """The platform's package imports Mastodon.py only when it first talks to a server."""
    code = "import sys, daemon.publishers.mastodon; print('mastodon' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
