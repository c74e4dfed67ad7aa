"""No silent waits: a file without its partner is warned about once, with the near misses,
and listed for the owner (the daemon's observers, `dropcast status`)."""

from __future__ import annotations

import os
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from daemon.events import Event, InboxWaiting
from daemon.inbox import Inbox
from daemon.registry import Registry
from daemon.waiting import scan_waiting
from tests.conftest import make_image, running_daemon, wait_for, write_config
from tests.test_reload import replace_config

NEAR_MISSES = [
    pytest.param(
        ["beach.jpg", "beach.jpg.txt"],
        {
            "beach.jpg": "its caption beach.txt",
            "beach.jpg.txt": "an image beach.jpg.jpg, beach.jpg.jpeg, beach.jpg.png or "
            "beach.jpg.webp",
        },
        "beach.jpg.txt is named after the whole image name beach.jpg: "
        "rename beach.jpg.txt to beach.txt",
        id="caption-named-after-the-whole-image-name",
    ),
    pytest.param(
        ["Cliff.jpg", "cliff.txt"],
        {
            "Cliff.jpg": "its caption Cliff.txt",
            "cliff.txt": "an image cliff.jpg, cliff.jpeg, cliff.png or cliff.webp",
        },
        "cliff.txt and Cliff.jpg differ only in case (names must match exactly): "
        "rename cliff.txt to Cliff.txt",
        id="case-mismatch",
    ),
    pytest.param(
        ["nocaption.jpg"], {"nocaption.jpg": "its caption nocaption.txt"}, None, id="alone"
    ),
]


def drop(inbox: Path, names: list[str]) -> None:
    for name in names:
        if name.endswith(".txt"):
            (inbox / name).write_text("a caption", encoding="utf-8")
        else:
            make_image(inbox / name)


def orphans(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == "inbox.orphan"]


class Recorder:
    """An observer beside the owner's services: keeps every event it is told."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def waiting(self) -> list[InboxWaiting]:
        return [event for event in self.events if isinstance(event, InboxWaiting)]

    def notify(self, event: Event) -> None:
        self.events.append(event)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


class TestWarnings:
    @pytest.mark.parametrize(("names", "waits_for", "near_miss"), NEAR_MISSES)
    def test_each_file_alone_is_warned_about_once_with_its_near_misses(
        self, inbox: Path, names: list[str], waits_for: dict[str, str], near_miss: str | None
    ) -> None:
        """After orphan_warning_seconds, one warning per file names the partner it waits for
        and what to rename; none before, none again later."""
        drop(inbox, names)
        box = Inbox(inbox, settle_seconds=2.0, orphan_warning_seconds=30.0)
        with capture_logs() as logs:
            assert box.due(0.0) == ([], 30.0)
            box.due(29.0)
            assert orphans(logs) == []
            box.due(30.0)
            box.due(500.0)
        warned = {entry["file"]: entry for entry in orphans(logs)}
        assert sorted(warned) == sorted(names)
        assert len(orphans(logs)) == len(names)
        assert {name: entry["waits_for"] for name, entry in warned.items()} == waits_for
        expected = [] if near_miss is None else [near_miss]
        assert all(entry["near_misses"] == expected for entry in warned.values())
        assert all(entry["log_level"] == "warning" for entry in warned.values())

    def test_the_waiting_files_are_listed_with_their_reason_until_they_pair(
        self, inbox: Path
    ) -> None:
        """The files warned about are listed (with the near miss in the reason); once renamed
        right the pair is due and the list is empty."""
        drop(inbox, ["beach.jpg", "beach.jpg.txt"])
        box = Inbox(inbox, settle_seconds=2.0, orphan_warning_seconds=30.0)
        with capture_logs():
            box.due(0.0)
            assert box.waiting() == InboxWaiting()
            box.due(30.0)
        waiting = box.waiting()
        assert sorted(file.name for file in waiting.waiting) == ["beach.jpg", "beach.jpg.txt"]
        assert all("rename beach.jpg.txt to beach.txt" in file.reason for file in waiting.waiting)
        assert all(abs(file.since - time.time()) < 60 for file in waiting.waiting)
        os.rename(inbox / "beach.jpg.txt", inbox / "beach.txt")
        box.due(40.0)
        assert box.waiting() == InboxWaiting(posts=1)  # paired: settling, no longer waiting
        due, _ = box.due(43.0)
        assert [candidate.stem for candidate in due] == ["beach"]

    def test_an_old_record_alone_is_no_orphan_caption(self, inbox: Path) -> None:
        """x.result.json (brought back from failed/ with its post, or left over) is neither a
        caption nor a file that waits."""
        (inbox / "x.result.json").write_text("{}", encoding="utf-8")
        box = Inbox(inbox, settle_seconds=2.0, orphan_warning_seconds=1.0)
        with capture_logs() as logs:
            box.due(0.0)
            box.due(100.0)
        assert [entry for entry in logs if entry["log_level"] == "warning"] == []
        assert box.waiting() == InboxWaiting()
        assert scan_waiting(inbox, 0.0) == InboxWaiting()


class TestForStatus:
    def test_a_scan_finds_what_the_daemon_warns_about(self, inbox: Path) -> None:
        """The same rules without the daemon: files alone longer than the bound by their
        mtime, with the same reasons; a file alone for less is not listed yet."""
        drop(inbox, ["beach.jpg", "beach.jpg.txt", "Cliff.jpg", "cliff.txt", "fresh.jpg"])
        old = time.time() - 120
        for name in ("beach.jpg", "beach.jpg.txt", "Cliff.jpg", "cliff.txt"):
            os.utime(inbox / name, (old, old))
        found = scan_waiting(inbox, 60.0)
        assert sorted(file.name for file in found.waiting) == [
            "Cliff.jpg",
            "beach.jpg",
            "beach.jpg.txt",
            "cliff.txt",
        ]
        reasons = {file.name: file.reason for file in found.waiting}
        assert reasons["Cliff.jpg"] == (
            "waits for its caption Cliff.txt; cliff.txt and Cliff.jpg differ only in case "
            "(names must match exactly): rename cliff.txt to Cliff.txt"
        )
        assert all(file.since == pytest.approx(old) for file in found.waiting)


class TestDaemon:
    async def test_the_daemon_warns_once_and_tells_the_owner_view(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """The running daemon warns about each file alone after orphan_warning_seconds, once,
        and tells its observers which files wait and why."""
        config = write_config(tmp_path, orphan_warning_seconds=0.5)
        inbox = tmp_path / "inbox"
        recorder = Recorder()
        with capture_logs() as logs:
            async with running_daemon(config, registry) as daemon:
                daemon.observers.add(recorder)
                drop(inbox, ["beach.jpg", "beach.jpg.txt", "Cliff.jpg", "cliff.txt"])
                drop(inbox, ["nocaption.jpg"])
                await wait_for(lambda: len(orphans(logs)) >= 5, what="five orphan warnings")
                await wait_for(
                    lambda: recorder.waiting() and len(recorder.waiting()[-1].waiting) == 5,
                    what="the owner's view told of the five",
                )
                daemon._sweep_no_later_than(0.0)  # one more look says nothing more
                await wait_for(lambda: daemon._next_sweep > 0, what="the look")
        assert sorted(entry["file"] for entry in orphans(logs)) == [
            "Cliff.jpg",
            "beach.jpg",
            "beach.jpg.txt",
            "cliff.txt",
            "nocaption.jpg",
        ]
        told = {file.name: file.reason for file in recorder.waiting()[-1].waiting}
        assert told["nocaption.jpg"] == "waits for its caption nocaption.txt"
        assert "rename beach.jpg.txt to beach.txt" in told["beach.jpg"]

    async def test_a_reload_applies_a_new_orphan_warning_seconds(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """An image alone under a bound of an hour is warned about soon after a reload
        lowers the bound."""
        config = write_config(tmp_path, orphan_warning_seconds=3600)
        with capture_logs() as logs:
            async with running_daemon(config, registry):
                drop(tmp_path / "inbox", ["nocaption.jpg"])
                settings = yaml.safe_load(config.read_text(encoding="utf-8"))
                replace_config(config, yaml.safe_dump({**settings, "orphan_warning_seconds": 0.5}))
                await wait_for(lambda: orphans(logs), what="the orphan warning")
        (warning,) = orphans(logs)
        assert warning["file"] == "nocaption.jpg"
