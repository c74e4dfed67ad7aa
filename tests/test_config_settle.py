"""A config is applied only once complete: written in place and then still, or renamed into place.

The daemon runs in the test's event loop with its real watcher; the config is written by
a real slow writer (a file left open between two chunks, as scp and cp leave it).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
import yaml
from pydantic import field_validator
from structlog.testing import capture_logs

from daemon.post import Post
from daemon.publisher import PublisherClass, PublishResult
from daemon.registry import Registry
from tests.conftest import archived, make_image, running_daemon, wait_for, write_config
from tests.fakes.publishers import RECEIVED, RecordingPublisher, RecordingSettings
from tests.test_config import alias_bomb
from tests.test_reload import events, replace_config

Logs = list[MutableMapping[str, Any]]


def drop_renamed(inbox: Path, stem: str) -> None:
    """Drop a post the safe way (`x.jpg.part` → `x.jpg`): complete at once, with no settle wait."""
    make_image(inbox / f"{stem}.jpg.part")
    os.replace(inbox / f"{stem}.jpg.part", inbox / f"{stem}.jpg")
    (inbox / f"{stem}.txt.part").write_text(f"A caption for {stem}", encoding="utf-8")
    os.replace(inbox / f"{stem}.txt.part", inbox / f"{stem}.txt")


def received(label: str) -> list[str]:
    return sorted(post.stem for post in RECEIVED[label])


def two_platforms(first: str, second: str) -> dict[str, Any]:
    return {
        "recording": {"enabled": True, "label": first},
        "recording2": {"enabled": True, "label": second},
    }


def split_before_second_platform(config: Path, labels: tuple[str, str]) -> tuple[str, str]:
    """The text of a config with both platforms, cut where a first chunk is a valid config of one."""
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["platforms"] = two_platforms(*labels)
    text = yaml.safe_dump(settings, sort_keys=False)
    cut = text.index("  recording2:")
    return text[:cut], text[cut:]


def seen_or_applied(logs: Logs) -> bool:
    """The daemon looked at the changed file (the old code applied it at once)."""
    return bool(events(logs, "config.settling") or events(logs, "config.reloaded"))


async def test_a_config_written_in_two_chunks_is_applied_only_once_complete(
    tmp_path: Path, registry: Registry
) -> None:
    """Posts dropped between the chunks get the old config's platforms; once still, the whole new config applies."""
    config = write_config(tmp_path, two_platforms("old1", "old2"), settle_seconds=10)
    first, rest = split_before_second_platform(config, ("new1", "new2"))
    inbox = tmp_path / "inbox"
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            with config.open("w", encoding="utf-8") as writer:  # in place: truncated, same inode
                writer.write(first)
                writer.flush()
                await wait_for(lambda: seen_or_applied(logs), what="the first chunk to be seen")
                for stem in ("between-1", "between-2"):
                    drop_renamed(inbox, stem)
                await wait_for(lambda: len(archived(tmp_path)) == 6, what="the posts in between")
                assert not events(logs, "config.reloaded"), "the half-written config was applied"
                writer.write(rest)
            # No event comes after the last write: the daemon looks again once it is still.
            await wait_for(lambda: events(logs, "config.reloaded"), within=30, what="the config")
            drop_renamed(inbox, "after")
            await wait_for(lambda: len(archived(tmp_path)) == 9, what="the post after")
    assert received("old1") == received("old2") == ["between-1", "between-2"]
    assert received("new1") == received("new2") == ["after"]
    assert [e["changed"] for e in events(logs, "config.reloaded")] == [
        ["platforms.recording.label", "platforms.recording2.label"]
    ]


async def test_a_config_renamed_into_place_applies_at_once(
    tmp_path: Path, registry: Registry
) -> None:
    """A config renamed over the old one (as editors save) is complete: no settle wait."""
    config = write_config(
        tmp_path, {"recording": {"enabled": True, "label": "old"}}, settle_seconds=60
    )
    text = config.read_text(encoding="utf-8").replace("label: old", "label: new")
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            replace_config(config, text)
            info = config.stat()
            assert info.st_ctime_ns > info.st_mtime_ns, "the file system hides the rename"
            # Well within the 60 s a file written in place would wait.
            await wait_for(lambda: events(logs, "config.reloaded"), within=20, what="the reload")
            drop_renamed(tmp_path / "inbox", "after")
            await wait_for(lambda: len(archived(tmp_path)) == 3, what="the post")
    assert received("new") == ["after"]
    assert events(logs, "config.settling") == []


async def test_a_new_file_written_in_place_of_a_renamed_old_one_is_applied_only_once_complete(
    tmp_path: Path, registry: Registry
) -> None:
    """Vim's save (the old config renamed to a backup, a new file written under its name) settles."""
    config = write_config(tmp_path, two_platforms("old1", "old2"), settle_seconds=5)
    first, rest = split_before_second_platform(config, ("new1", "new2"))
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            os.rename(config, config.with_name("config.yaml~"))
            with config.open("w", encoding="utf-8") as writer:  # a new inode, not renamed in
                writer.write(first)
                writer.flush()
                await wait_for(lambda: seen_or_applied(logs), what="the first chunk to be seen")
                assert not events(logs, "config.reloaded"), "the half-written config was applied"
                writer.write(rest)
            await wait_for(lambda: events(logs, "config.reloaded"), within=30, what="the config")
    assert [e["changed"] for e in events(logs, "config.reloaded")] == [
        ["platforms.recording.label", "platforms.recording2.label"]
    ]


async def test_a_reload_on_request_waits_for_a_config_being_written(
    tmp_path: Path, registry: Registry
) -> None:
    """`reload()` (what SIGHUP does) during an in-place write returns with the complete config."""
    config = write_config(tmp_path, two_platforms("old1", "old2"), settle_seconds=10)
    first, rest = split_before_second_platform(config, ("new1", "new2"))

    async def finish(writer: Any) -> None:
        await anyio.sleep(0.5)  # well within the settle time: one write, paused
        writer.write(rest)
        writer.flush()

    async with running_daemon(config, registry) as daemon:
        with config.open("w", encoding="utf-8") as writer:
            writer.write(first)
            writer.flush()
            async with anyio.create_task_group() as group:
                group.start_soon(finish, writer)
                await daemon.reload()
        labels = [
            getattr(daemon.config.platforms.get(name), "label", None)
            for name in ("recording", "recording2")
        ]
    assert labels == ["new1", "new2"]


async def test_removing_or_disabling_a_platform_is_a_warning_naming_it(
    tmp_path: Path, registry: Registry
) -> None:
    """A reload that stops posts going to a platform says so, by name, as a warning."""
    platforms = {
        **two_platforms("one", "two"),
        "recording3": {"enabled": True, "label": "three"},
    }
    config = write_config(tmp_path, platforms)
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    del settings["platforms"]["recording2"]
    settings["platforms"]["recording3"]["enabled"] = False
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            replace_config(config, yaml.safe_dump(settings))
            await wait_for(lambda: events(logs, "config.reloaded"), what="the reload")
    [warning] = events(logs, "config.platforms_stopped")
    assert warning["log_level"] == "warning"
    assert warning["platforms"] == ["recording2", "recording3"]


class Hold:
    """Where a `HeldSettings` validation waits: the test sees it enter and lets it go."""

    def __init__(self) -> None:
        self.publishing = threading.Event()  # a post is on its way, waiting for `entered`
        self.entered = threading.Event()
        self.released = threading.Event()


HOLD = Hold()


class HeldSettings(RecordingSettings):
    hold: bool = False  # true: validating this section waits for the test (at most 20 s)

    @field_validator("hold")
    @classmethod
    def _wait_for_the_test(cls, hold: bool) -> bool:
        if hold:
            HOLD.entered.set()
            # Bounded: the old code validated on the event loop, where the test cannot release it.
            HOLD.released.wait(20)
        return hold


class HeldPublisher(RecordingPublisher):
    """A recording platform whose settings can take as long to read as the test wants."""

    platform_name = "held"
    settings_model = HeldSettings

    async def publish(self, post: Post) -> PublishResult:
        held = isinstance(self.settings, HeldSettings) and self.settings.hold
        if not held:  # the old config's post: kept in flight until a reload is being held
            HOLD.publishing.set()
            while not HOLD.entered.is_set():  # noqa: ASYNC110 - set from the reload's thread
                await anyio.sleep(0.01)
        return await super().publish(post)


@pytest.fixture
def held_registry() -> Iterator[Registry]:
    """The `held` platform alone; a validation still waiting is let go at the end."""
    for event in (HOLD.publishing, HOLD.entered, HOLD.released):
        event.clear()
    yield Registry({"held": cast(PublisherClass, HeldPublisher)})
    HOLD.released.set()


async def test_the_config_is_read_off_the_event_loop(
    tmp_path: Path, held_registry: Registry
) -> None:
    """While a reload is still reading the config, a post in flight finishes; then the new config applies."""
    config = write_config(tmp_path, {"held": {"enabled": True, "label": "old"}})
    text = config.read_text(encoding="utf-8").replace("label: old", "label: new\n    hold: true")
    with capture_logs() as logs:
        async with running_daemon(config, held_registry):
            drop_renamed(tmp_path / "inbox", "in-flight")
            await wait_for(HOLD.publishing.is_set, what="the post to be on its way")
            replace_config(config, text)
            await wait_for(HOLD.entered.is_set, what="the reload to be reading the config")
            await wait_for(lambda: len(archived(tmp_path)) == 3, what="the post in flight")
            HOLD.released.set()
            await wait_for(lambda: events(logs, "config.reloaded"), what="the reload")
            drop_renamed(tmp_path / "inbox", "after")
            await wait_for(lambda: len(archived(tmp_path)) == 6, what="the post after")
    assert received("old") == ["in-flight"]
    assert received("new") == ["after"]


async def test_an_alias_bomb_is_refused_and_the_daemon_keeps_publishing(
    tmp_path: Path, registry: Registry
) -> None:
    """Nested aliases renamed in are refused with file and line; the old config keeps publishing."""
    config = write_config(tmp_path, {"recording": {"enabled": True, "label": "old"}})
    bomb, line = alias_bomb(levels=6)  # the old code took about 12 s on the loop for this one
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            replace_config(config, bomb)
            await wait_for(lambda: events(logs, "config.invalid"), within=30, what="the refusal")
            drop_renamed(tmp_path / "inbox", "after")
            await wait_for(lambda: len(archived(tmp_path)) == 3, what="the post")
    assert received("old") == ["after"]
    assert events(logs, "config.invalid")[0]["error"] == (
        f"{config}, line {line}: YAML aliases are not allowed in the config (found 60); "
        "write the values out"
    )
