"""Albums, alt text and content warnings through the real daemon: the real watcher on real
files in tmp_path, the test platforms, real archive moves, and `dropcast retry`."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
from PIL import Image

from daemon.config import load_config
from daemon.frontmatter import ContentWarning
from daemon.registry import Registry
from daemon.resend import retry_archived
from tests.conftest import (
    archived,
    inbox_files,
    make_image,
    running_daemon,
    wait_for,
    write_album,
    write_config,
    write_post,
)
from tests.fakes.publishers import RECEIVED, RECEIVED_AT


def _record(folder: Path, name: str) -> dict[str, Any]:
    (path,) = folder.glob(f"*/{name}") if folder.name == "archive" else folder.glob(name)
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return record


def _names(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


async def test_an_album_is_published_as_one_post_in_order_and_archived_together(
    tmp_path: Path, registry: Registry
) -> None:
    """walk.1 … walk.10 and walk.txt reach the platform as one post, images in numeric order,
    and move to the archive together beside one record."""
    config = write_config(tmp_path)
    (tmp_path / "expected").mkdir()
    expected = [p.read_bytes() for p in write_album(tmp_path / "expected", "walk", 10)]
    async with running_daemon(config, registry):
        write_album(tmp_path / "inbox", "walk", 10, "Ten steps")
        await wait_for(lambda: len(archived(tmp_path)) == 12, what="the album in the archive")
    (post,) = RECEIVED["recording"]
    assert [path.name for path in post.images] == [f"walk.{n}.jpg" for n in range(1, 11)]
    assert post.caption == "Ten steps"
    assert sorted(_names(archived(tmp_path))) == sorted(
        [*(f"walk.{n}.jpg" for n in range(1, 11)), "walk.txt", "walk.result.json"]
    )
    day = archived(tmp_path)[0].parent
    assert [(day / f"walk.{n}.jpg").read_bytes() for n in range(1, 11)] == expected
    assert _record(tmp_path / "archive", "walk.result.json")["outcome"] == "published"
    assert inbox_files(tmp_path) == []


async def test_a_second_album_of_the_same_name_is_archived_beside_the_first(
    tmp_path: Path, registry: Registry
) -> None:
    """Two albums `walk` the same day: the second's files all take the stem walk-1, so no
    name of the first is overwritten and each album stays whole."""
    config = write_config(tmp_path)
    async with running_daemon(config, registry):
        first = [p.read_bytes() for p in write_album(tmp_path / "inbox", "walk", 2, "First")]
        await wait_for(lambda: len(archived(tmp_path)) == 4, what="the first album")
        write_album(tmp_path / "inbox", "walk", 3, "Second")
        await wait_for(lambda: len(archived(tmp_path)) == 9, what="the second album")
    day = archived(tmp_path)[0].parent
    assert sorted(_names(archived(tmp_path))) == sorted(
        [
            *("walk.1.jpg", "walk.2.jpg", "walk.txt", "walk.result.json"),
            *("walk-1.1.jpg", "walk-1.2.jpg", "walk-1.3.jpg", "walk-1.txt", "walk-1.result.json"),
        ]
    )
    assert [(day / f"walk.{n}.jpg").read_bytes() for n in (1, 2)] == first
    assert (day / "walk.txt").read_text(encoding="utf-8") == "First"
    assert (day / "walk-1.txt").read_text(encoding="utf-8") == "Second"
    assert [len(post.images) for post in RECEIVED["recording"]] == [2, 3]


async def test_an_image_still_being_copied_delays_the_whole_album(
    tmp_path: Path, registry: Registry
) -> None:
    """walk.2.jpg written a piece at a time (each piece sooner than settle_seconds): nothing is
    published until it is whole and still, then the album of two goes out (a half JPEG
    would have been refused to failed/)."""
    config = write_config(tmp_path, settle_seconds=0.3)
    inbox = tmp_path / "inbox"
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 200, 30)).save(buffer, "JPEG")
    whole = buffer.getvalue()
    async with running_daemon(config, registry):
        make_image(inbox / "walk.1.jpg")
        (inbox / "walk.txt").write_text("Two", encoding="utf-8")
        with (inbox / "walk.2.jpg").open("wb") as late:
            for start in range(0, len(whole), len(whole) // 8 + 1):
                late.write(whole[start : start + len(whole) // 8 + 1])
                late.flush()
                await anyio.sleep(0.1)
                assert RECEIVED["recording"] == []
        finished_at = time.monotonic()
        await wait_for(lambda: len(archived(tmp_path)) == 4, what="the album in the archive")
    (post,) = RECEIVED["recording"]
    assert _names(list(post.images)) == ["walk.1.jpg", "walk.2.jpg"]
    assert RECEIVED_AT["recording"][0] >= finished_at
    day = archived(tmp_path)[0].parent
    assert (day / "walk.2.jpg").read_bytes() == whole
    assert not (tmp_path / "failed").exists() or list((tmp_path / "failed").iterdir()) == []


async def test_an_ambiguous_mixture_is_refused_to_failed_naming_the_files(
    tmp_path: Path, registry: Registry
) -> None:
    """walk.jpg beside walk.1.jpg with one walk.txt: nothing is sent; all three go to
    failed/ with a record that names them and the rule."""
    config = write_config(tmp_path)
    inbox = tmp_path / "inbox"
    async with running_daemon(config, registry):
        make_image(inbox / "walk.jpg")
        make_image(inbox / "walk.1.jpg")
        (inbox / "walk.txt").write_text("Which one?", encoding="utf-8")
        await wait_for(
            lambda: (tmp_path / "failed" / "walk.result.json").exists(), what="the refusal"
        )
    assert RECEIVED["recording"] == []
    assert sorted(p.name for p in (tmp_path / "failed").iterdir()) == [
        "walk.1.jpg",
        "walk.jpg",
        "walk.result.json",
        "walk.txt",
    ]
    error = _record(tmp_path / "failed", "walk.result.json")["error"]
    assert error.startswith("ambiguous post 'walk': walk.jpg and the album images walk.1.jpg")
    assert "give walk.1.jpg a caption of its own (walk.1.txt)" in error


async def test_alt_text_and_the_default_content_warning_reach_the_platform(
    tmp_path: Path, registry: Registry
) -> None:
    """With default_content_warning: nudity, a post that says nothing gets it, one that says
    none gets none, one with only spoiler_text gets the default with those words; alt text
    arrives per image."""
    config = write_config(tmp_path, default_content_warning="nudity")
    inbox = tmp_path / "inbox"
    async with running_daemon(config, registry):
        write_post(inbox, "plain", "Nothing said")
        write_post(inbox, "safe", "---\ncontent_warning: none\n---\nA landscape")
        write_post(inbox, "worded", "---\nspoiler_text: Beach\nalt: Two people\n---\nSun")
        write_album(inbox, "walk", 3, "---\nalt: [Lake, Night]\ncontent_warning: porn\n---\nW")
        await wait_for(lambda: len(RECEIVED["recording"]) == 4, what="four posts")
    posts = {post.stem: post for post in RECEIVED["recording"]}
    assert {stem: post.content_warning for stem, post in posts.items()} == {
        "plain": ContentWarning("nudity"),
        "safe": None,
        "worded": ContentWarning("nudity", "Beach"),
        "walk": ContentWarning("porn"),
    }
    assert posts["worded"].alt == ("Two people",)
    assert [posts["walk"].alt_for(n) for n in range(3)] == ["Lake", "Night", ""]


async def test_more_alt_texts_than_images_is_refused_naming_the_caption(
    tmp_path: Path, registry: Registry
) -> None:
    """Three alt texts for an album of two: refused to failed/ with a record naming walk.txt."""
    config = write_config(tmp_path)
    async with running_daemon(config, registry):
        write_album(tmp_path / "inbox", "walk", 2, "---\nalt: [a, b, c]\n---\nW")
        await wait_for(
            lambda: (tmp_path / "failed" / "walk.result.json").exists(), what="the refusal"
        )
    assert RECEIVED["recording"] == []
    assert _record(tmp_path / "failed", "walk.result.json")["error"] == (
        "walk.txt: alt has 3 texts but the post has 2 images; give one text per image, in order"
    )


async def test_dropcast_retry_sends_an_archived_album_whole_in_order(
    tmp_path: Path, registry: Registry
) -> None:
    """An album one platform refused is archived partial; `dropcast retry walk` sends that
    platform the archived album, every image in order with its alt text, and records it."""
    platforms: dict[str, Any] = {
        "recording": {"enabled": True, "label": "main"},
        "recording2": {"enabled": True, "label": "second", "behaviour": "fail"},
    }
    config_path = write_config(tmp_path, platforms=platforms, default_content_warning="sexual")
    async with running_daemon(config_path, registry):
        write_album(tmp_path / "inbox", "walk", 3, "---\nalt: [One, Two, Three]\n---\nW")
        await wait_for(lambda: len(archived(tmp_path)) == 5, what="the partial album")
    assert _record(tmp_path / "archive", "walk.result.json")["outcome"] == "partial"
    platforms["recording2"]["behaviour"] = "ok"
    config = load_config(write_config(tmp_path, platforms=platforms), registry, environ={})
    said: list[str] = []
    assert await retry_archived(config, registry, "walk", said.append)
    assert said == [
        "walk: recording2: refused last time: sending again what it did not accept",
        "walk: published (recording2: sent)",
    ]
    retried = RECEIVED["second"][-1]
    day = archived(tmp_path)[0].parent
    assert retried.images == tuple(day / f"walk.{n}.jpg" for n in (1, 2, 3))
    assert retried.alt == ("One", "Two", "Three")
    assert retried.content_warning is None  # the config in force now: default none
    assert [len(post.images) for post in RECEIVED["main"]] == [3]
    assert RECEIVED["main"][0].content_warning == ContentWarning("sexual")
    assert _record(tmp_path / "archive", "walk.result.json")["outcome"] == "published"


async def test_dropcast_retry_refuses_an_album_whose_image_stayed_in_the_inbox(
    tmp_path: Path, registry: Registry
) -> None:
    """An album archived without an image (it changed while it was published, so it stayed in
    the inbox) is not retried: the archive no longer holds the post the others have."""
    platforms: dict[str, Any] = {
        "recording": {"enabled": True, "label": "main"},
        "recording2": {"enabled": True, "label": "second", "behaviour": "fail"},
    }
    config_path = write_config(tmp_path, platforms=platforms)
    async with running_daemon(config_path, registry):
        write_album(tmp_path / "inbox", "walk", 2, "W")
        await wait_for(lambda: len(archived(tmp_path)) == 4, what="the partial album")
    # As the ledger has it when walk.2.jpg changed while publishing: it stayed behind.
    with sqlite3.connect(tmp_path / "state" / "dropcast.db") as db:
        (files,) = db.execute("SELECT files FROM posts").fetchone()
        left = str(tmp_path / "inbox" / "walk.3.jpg")
        db.execute("UPDATE posts SET files = ?", (json.dumps([*json.loads(files), left]),))
    platforms["recording2"]["behaviour"] = "ok"
    config = load_config(write_config(tmp_path, platforms=platforms), registry, environ={})
    said: list[str] = []
    tried_before = len(RECEIVED["second"])
    assert not await retry_archived(config, registry, "walk", said.append)
    assert said[-1].startswith("walk: not retried: walk: 1 of its files changed while it was")
    assert len(RECEIVED["second"]) == tried_before
