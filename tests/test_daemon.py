"""The daemon end to end: the real watcher on real files, fake platforms, real archive moves."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
from structlog.testing import capture_logs

from daemon.config import load_config
from daemon.registry import Registry
from tests.conftest import (
    archived,
    inbox_files,
    make_image,
    running_daemon,
    wait_for,
    write_config,
    write_post,
)
from tests.fakes.publishers import OCCUPANCY, RECEIVED


def record_of(folder: Path, stem: str, where: str = "archive") -> dict[str, Any]:
    matches = sorted((folder / where).rglob(f"{stem}.result.json"))
    assert matches, f"no record for {stem} in {where}/"
    record: dict[str, Any] = json.loads(matches[-1].read_text(encoding="utf-8"))
    return record


def failed_files(folder: Path) -> list[str]:
    return (
        sorted(p.name for p in (folder / "failed").iterdir())
        if (folder / "failed").exists()
        else []
    )


async def test_dropped_pair_is_published_and_archived(tmp_path: Path, registry: Registry) -> None:
    """A photo and its caption dropped into the inbox are published once and archived with a record."""
    config = write_config(tmp_path)
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "sunset", "Red sky")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    assert [p.name for p in archived(tmp_path)] == [
        "sunset.jpg",
        "sunset.result.json",
        "sunset.txt",
    ]
    assert [post.caption for post in RECEIVED["recording"]] == ["Red sky"]
    record = record_of(tmp_path, "sunset")
    assert record["outcome"] == "published"
    assert record["platforms"] == {
        "recording": {
            "ok": True,
            "state": "sent",
            "id": "recording-1",
            "url": None,
            "attempts": 1,
            "duration_ms": record["platforms"]["recording"]["duration_ms"],
            "error": None,
            "notes": [],
            "to_do": None,
            "destinations": {},
        }
    }
    assert inbox_files(tmp_path) == []


async def test_posts_already_in_the_inbox_are_published_at_start(
    tmp_path: Path, registry: Registry
) -> None:
    """Posts dropped while dropcast was not running are published when it starts."""
    config = write_config(tmp_path)
    write_post(tmp_path / "inbox", "early", "Waiting since yesterday")
    async with running_daemon(config, registry):
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    assert [post.stem for post in RECEIVED["recording"]] == ["early"]


async def test_three_platforms_publish_at_the_same_time(tmp_path: Path, registry: Registry) -> None:
    """Each barrier platform waits until all three are publishing, which a sequential engine never reaches."""
    platforms = {
        name: {"enabled": True, "parties": 3} for name in ("barrier", "barrier2", "barrier3")
    }
    config = write_config(tmp_path, platforms, publish_timeout=5)
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "together")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    record = record_of(tmp_path, "together")
    assert record["outcome"] == "published"
    assert {name: result["ok"] for name, result in record["platforms"].items()} == {
        "barrier": True,
        "barrier2": True,
        "barrier3": True,
    }


async def test_a_platform_that_raises_leaves_the_others_ok_and_the_post_partial(
    tmp_path: Path, registry: Registry
) -> None:
    """An exception in one platform becomes its error; the others succeed and the post is archived as partial."""
    platforms = {
        "recording": {"enabled": True, "label": "good"},
        "recording2": {
            "enabled": True,
            "label": "bad",
            "behaviour": "raise",
            "token": "s3cr3t-T0KEN",
        },
    }
    config = write_config(tmp_path, platforms)
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            write_post(tmp_path / "inbox", "mixed")
            await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    record = record_of(tmp_path, "mixed")
    assert record["outcome"] == "partial"
    platforms_record = record["platforms"]
    assert platforms_record["recording"]["ok"] is True
    assert platforms_record["recording2"]["ok"] is False
    assert "bad exploded" in platforms_record["recording2"]["error"]
    everything = (
        json.dumps(record)
        + repr(logs)
        + "".join(p.read_text() for p in archived(tmp_path) if p.suffix == ".json")
    )
    assert "s3cr3t-T0KEN" not in everything


async def test_a_platform_that_hangs_times_out_without_holding_up_the_others(
    tmp_path: Path, registry: Registry
) -> None:
    """A platform that never answers fails after publish_timeout; the post is still archived."""
    platforms = {
        "recording": {"enabled": True, "label": "quick"},
        "recording2": {"enabled": True, "label": "stuck", "behaviour": "hang"},
    }
    config = write_config(tmp_path, platforms, publish_timeout=0.5)
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "slow")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    result = record_of(tmp_path, "slow")["platforms"]["recording2"]
    assert result["ok"] is False
    assert result["error"] == "timed out after 0.5 s"


async def test_a_disabled_platform_is_never_called(tmp_path: Path, registry: Registry) -> None:
    """Only enabled platforms get the post."""
    platforms = {
        "recording": {"enabled": True, "label": "on"},
        "recording2": {"enabled": False, "label": "off"},
    }
    config = write_config(tmp_path, platforms)
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "only-one")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    assert set(RECEIVED) == {"on"}
    assert list(record_of(tmp_path, "only-one")["platforms"]) == ["recording"]


async def test_front_matter_limits_a_post_to_some_platforms(
    tmp_path: Path, registry: Registry
) -> None:
    """`platforms:` in the front matter sends the post to those platforms only, with their own caption."""
    platforms = {
        "recording": {"enabled": True, "label": "one"},
        "recording2": {"enabled": True, "label": "two"},
    }
    config = write_config(tmp_path, platforms)
    caption = (
        "---\nplatforms: [recording2]\ncaptions: {recording2: Just for two}\n---\nFor everyone"
    )
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "picky", caption)
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    assert set(RECEIVED) == {"two"}
    assert RECEIVED["two"][0].caption_for("recording2") == "Just for two"
    assert RECEIVED["two"][0].caption == "For everyone"


async def test_a_post_no_platform_accepts_is_retried_then_moved_to_failed(
    tmp_path: Path, registry: Registry
) -> None:
    """With every platform failing, the post stays in the inbox, is retried, and after max_attempts goes to failed/."""
    platforms = {"recording": {"enabled": True, "behaviour": "fail"}}
    config = write_config(tmp_path, platforms, retry_delays=[0.2], max_attempts=3)
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "doomed")
        await wait_for(lambda: "doomed.result.json" in failed_files(tmp_path), what="failed/")
    assert len(RECEIVED["recording"]) == 3
    assert failed_files(tmp_path) == ["doomed.jpg", "doomed.result.json", "doomed.txt"]
    record = record_of(tmp_path, "doomed", "failed")
    assert record["outcome"] == "failed"
    assert record["attempts"] == 3
    assert archived(tmp_path) == []


async def test_a_failed_post_stays_in_the_inbox_until_the_next_attempt(
    tmp_path: Path, registry: Registry
) -> None:
    """After a failed attempt the post's files are still in the inbox, untouched."""
    platforms = {"recording": {"enabled": True, "behaviour": "fail"}}
    config = write_config(tmp_path, platforms, rescan_seconds=30, max_attempts=5)
    async with running_daemon(config, registry):
        image = write_post(tmp_path / "inbox", "later")
        content = image.read_bytes()
        await wait_for(lambda: len(RECEIVED["recording"]) == 1, what="the first attempt")
        await anyio.sleep(0.5)
    assert inbox_files(tmp_path) == ["later.jpg", "later.txt"]
    assert image.read_bytes() == content
    assert len(RECEIVED["recording"]) == 1


async def test_posts_in_flight_are_bounded_by_max_concurrent_posts(
    tmp_path: Path, registry: Registry
) -> None:
    """Six posts dropped at once with max_concurrent_posts 2 never have more than two publishing."""
    platforms = {"recording": {"enabled": True, "delay": 0.3}}
    config = write_config(tmp_path, platforms, max_concurrent_posts=2)
    async with running_daemon(config, registry):
        for number in range(6):
            write_post(tmp_path / "inbox", f"burst-{number}", f"Caption {number}")
        await wait_for(lambda: len(archived(tmp_path)) == 18, within=20, what="all six posts")
    assert OCCUPANCY.peak == 2
    assert sorted(post.stem for post in RECEIVED["recording"]) == [f"burst-{n}" for n in range(6)]


async def test_a_reload_changes_the_bound_on_posts_in_flight(
    tmp_path: Path, registry: Registry
) -> None:
    """Started with max_concurrent_posts 1 and reloaded with 3, six posts publish three at a time."""
    platforms = {"recording": {"enabled": True, "delay": 0.3}}
    config = write_config(tmp_path, platforms, max_concurrent_posts=1)
    async with running_daemon(config, registry) as daemon:
        write_config(tmp_path, platforms, max_concurrent_posts=3)
        await daemon.reload()
        for number in range(6):
            write_post(tmp_path / "inbox", f"burst-{number}", f"Caption {number}")
        await wait_for(lambda: len(archived(tmp_path)) == 18, within=20, what="all six posts")
    assert OCCUPANCY.peak == 3


async def test_polling_mode_finds_posts_without_file_system_events(
    tmp_path: Path, registry: Registry
) -> None:
    """With `poll: always` (network shares), the watcher polls and still publishes each post once."""
    config = write_config(tmp_path, poll="always")
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "polled")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    assert [post.stem for post in RECEIVED["recording"]] == ["polled"]


def test_the_shipped_config_is_valid() -> None:
    """The config.yaml in the repository loads, with the preview platform enabled."""
    config = load_config(Path(__file__).parent.parent / "config.yaml", Registry.discover())
    assert config.enabled_platforms == ["preview"]


async def test_a_publishers_own_timeout_keeps_its_words(tmp_path: Path, registry: Registry) -> None:
    """A TimeoutError raised inside a platform is reported as itself, not as the publish timeout."""
    config = write_config(
        tmp_path, {"recording": {"enabled": True, "behaviour": "socket_timeout"}}, max_attempts=1
    )
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "slowpoke")
        await wait_for(lambda: "slowpoke.result.json" in failed_files(tmp_path), what="failed/")
    error = record_of(tmp_path, "slowpoke", "failed")["platforms"]["recording"]["error"]
    assert error == "unexpected error: TimeoutError: connect to the server timed out"


async def test_posts_given_one_name_at_once_all_keep_their_files(
    tmp_path: Path, registry: Registry
) -> None:
    """Two posts filed at the same moment never get the same name: every file arrives, none is lost."""
    failed = tmp_path / "failed"
    failed.mkdir()
    for suffix in (".jpg", ".txt", ".result.json"):
        (failed / f"a{suffix}").write_text("an older post", encoding="utf-8")
    config = write_config(tmp_path, max_concurrent_posts=4)
    inbox = tmp_path / "inbox"
    async with running_daemon(config, registry):
        for stem in (
            "a",
            "a-1",
        ):  # both refused at once ("a" must become a-1, which "a-1" wants too)
            (inbox / f"{stem}.jpg").write_bytes(b"not a picture")
            (inbox / f"{stem}.txt").write_text(f"caption {stem}", encoding="utf-8")
        await wait_for(lambda: len(failed_files(tmp_path)) == 9, what="both posts in failed/")
    captions = sorted(p.read_text(encoding="utf-8") for p in failed.glob("*.txt"))
    assert captions == ["an older post", "caption a", "caption a-1"]
    assert inbox_files(tmp_path) == []


async def test_a_photo_replaced_while_publishing_stays_in_the_inbox(
    tmp_path: Path, registry: Registry
) -> None:
    """A photo swapped during publishing is not archived as the published one: it stays as a new post."""
    config = write_config(tmp_path, {"recording": {"enabled": True, "delay": 1.0}})
    inbox = tmp_path / "inbox"
    async with running_daemon(config, registry):
        write_post(inbox, "swap", "the first photo")
        await wait_for(lambda: RECEIVED["recording"], what="publishing to start")
        make_image(inbox / "swap.jpg.part", (80, 60))
        os.replace(inbox / "swap.jpg.part", inbox / "swap.jpg")
        await wait_for(
            lambda: any(p.name == "swap.result.json" for p in archived(tmp_path)), what="the record"
        )
    assert [p.name for p in archived(tmp_path)] == ["swap.result.json", "swap.txt"]
    assert inbox_files(tmp_path) == ["swap.jpg"]
    record = record_of(tmp_path, "swap")
    assert record["error"] == "changed while it was published, left in the inbox: swap.jpg"
