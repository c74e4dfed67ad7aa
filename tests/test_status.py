"""`dropcast status` as the owner reads it: why a post failed, same-named posts told apart,
files waiting in the inbox, and a table that stays straight with wide characters."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from structlog.testing import capture_logs

from daemon.cli import main
from daemon.registry import Registry
from daemon.status import display_width, render_table
from tests.conftest import (
    archived,
    make_image,
    running_daemon,
    wait_for,
    write_config,
    write_post,
)


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """`main` configures logging onto this test's captured stderr: later tests must not write there."""
    yield
    structlog.reset_defaults()


def status(config: Path, capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    """`dropcast status` run in this process on the same folders (the test platforms, which
    only the daemon's registry here knows, left out); its standard output."""
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["platforms"] = {"preview": {"enabled": False}}
    status_config = config.with_name("status.yaml")
    status_config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    capsys.readouterr()
    assert main(["--config", str(status_config), "status", *arguments]) == 0
    return capsys.readouterr().out


def failed_files(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "failed").iterdir())


def events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


async def test_status_failed_shows_why_each_post_failed(
    tmp_path: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """A post every platform refused shows each platform's error; a post refused at once
    shows its reason; neither is a bare `failed -`."""
    config = write_config(
        tmp_path, {"recording": {"enabled": True, "behaviour": "fail"}}, max_attempts=1
    )
    inbox = tmp_path / "inbox"
    async with running_daemon(config, registry):
        write_post(inbox, "refused")
        make_image(inbox / "garbled.jpg")
        (inbox / "garbled.txt").write_bytes(b"caf\xe9")
        await wait_for(lambda: len(failed_files(tmp_path)) == 6, what="both posts in failed/")
    table = status(config, capsys, "--failed")
    assert "refused: recording failed: recording refused the post" in table
    (garbled,) = [line for line in table.splitlines() if line.startswith("garbled: ")]
    assert "UTF-8" in garbled
    listed = {
        post["post"]: post for post in json.loads(status(config, capsys, "--failed", "--json"))
    }
    assert listed["refused"]["platforms"]["recording"]["error"] == "recording refused the post"
    assert "UTF-8" in listed["garbled"]["error"]


async def test_two_posts_dropped_under_one_name_are_told_apart(
    tmp_path: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """`party` dropped twice is archived as party and party-1: status (table and JSON) and
    the summary log name each by its archived name."""
    config = write_config(tmp_path)
    inbox = tmp_path / "inbox"
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            write_post(inbox, "party", "the first party")
            await wait_for(lambda: len(archived(tmp_path)) == 3, what="the first party")
            write_post(inbox, "party", "the second party")
            await wait_for(lambda: len(archived(tmp_path)) == 6, what="the second party")
    assert [e["archived_as"] for e in events(logs, "post.published")] == ["party", "party-1"]
    rows = status(config, capsys).splitlines()[1:]
    assert [row.split()[2] for row in rows] == ["party-1", "party"]
    listed = json.loads(status(config, capsys, "--json"))
    assert [(p["post"], p["archived_as"]) for p in listed] == [
        ("party", "party-1"),
        ("party", "party"),
    ]


def test_status_lists_files_waiting_in_the_inbox_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An image alone past orphan_warning_seconds (by its mtime) is a `waiting` row, its
    reason and near miss below the table, with no daemon running and no ledger yet."""
    config = write_config(tmp_path, orphan_warning_seconds=60)
    inbox = tmp_path / "inbox"
    make_image(inbox / "beach.jpg")
    (inbox / "beach.jpg.txt").write_text("a caption", encoding="utf-8")
    make_image(inbox / "just-now.jpg")  # alone for less than the bound: not yet
    old = time.time() - 600
    for name in ("beach.jpg", "beach.jpg.txt"):
        os.utime(inbox / name, (old, old))
    lines = status(config, capsys).splitlines()
    assert [line.split()[2:4] for line in lines[1:3]] == [
        ["beach.jpg", "waiting"],
        ["beach.jpg.txt", "waiting"],
    ]
    assert (
        "beach.jpg: waits for its caption beach.txt; beach.jpg.txt is named after the whole "
        "image name beach.jpg: rename beach.jpg.txt to beach.txt"
    ) in lines
    assert "just-now" not in "\n".join(lines)
    listed = json.loads(status(config, capsys, "--json"))
    assert [(p["post"], p["outcome"]) for p in listed] == [
        ("beach.jpg", "waiting"),
        ("beach.jpg.txt", "waiting"),
    ]


def _post(name: str) -> dict[str, Any]:
    return {
        "post": name,
        "archived_as": name,
        "seen_at": "2025-06-01T10:00:00+02:00",
        "outcome": "published",
        "attempts": 1,
        "next_attempt_at": None,
        "error": None,
        "platforms": {"preview": {"state": "sent", "error": None, "to_do": None}},
    }


@pytest.mark.parametrize(
    "name",
    ["🎉party", "家族写真", "👩‍👩‍👧 family", "café", "cafe\u0301", "❤️love"],
)
def test_the_table_stays_straight_after_a_wide_name(name: str) -> None:
    """A wide emoji, CJK, a ZWJ family or a combining accent in a name does not shift the
    next column: every line's PLATFORMS column starts at the same display column."""
    lines = render_table([_post(name), _post("plain")]).splitlines()
    starts = {display_width(line[: line.rindex(" ") + 1]) for line in lines}
    assert len(starts) == 1, lines


@pytest.mark.parametrize(
    ("text", "width"),
    [("abc", 3), ("🎉", 2), ("家族", 4), ("👩‍👩‍👧", 2), ("cafe\u0301", 4), ("❤️", 2), ("🇫🇷", 2)],
)
def test_display_width_counts_terminal_columns(text: str, width: int) -> None:
    """Graphemes, not code points: a ZWJ sequence or a flag is one wide glyph."""
    assert display_width(text) == width
