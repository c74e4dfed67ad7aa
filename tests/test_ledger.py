"""The ledger and the guarantees built on it: backoff, duplicates, recovery, a full disk."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from itertools import pairwise
from pathlib import Path

import anyio
import pytest

from daemon.ledger import (
    AsyncLedger,
    DeliveryClaimedError,
    DeliveryState,
    Ledger,
    LedgerError,
)
from daemon.publisher import PublishResult
from daemon.registry import Registry
from daemon.status import describe, needs_attention, render_table
from tests.conftest import (
    archived,
    inbox_files,
    make_image,
    running_daemon,
    wait_for,
    write_config,
    write_post,
)
from tests.fakes.publishers import RECEIVED, RECEIVED_AT


def record_of(folder: Path, stem: str) -> dict[str, object]:
    [path] = (folder / "archive").glob(f"*/{stem}.result.json")
    result: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return result


async def test_a_platform_down_for_three_attempts_is_published_at_the_fourth(
    tmp_path: Path, registry: Registry
) -> None:
    """The post stays in the inbox through three failures, waits the backoff each time, and is archived at the fourth try."""
    delays = [0.4, 0.8, 1.2]
    platforms = {"recording": {"enabled": True, "fail_first": 3}}
    config = write_config(tmp_path, platforms, retry_delays=delays, max_attempts=5)
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "patient")
        await wait_for(lambda: len(archived(tmp_path)) == 3, within=20, what="the archive")
    attempts_at = RECEIVED_AT["recording"]
    assert len(attempts_at) == 4
    gaps = [later - earlier for earlier, later in pairwise(attempts_at)]
    for gap, delay in zip(gaps, delays, strict=True):
        assert gap >= delay * 0.8  # the jitter is ±20 %
    record = record_of(tmp_path, "patient")
    assert (record["outcome"], record["attempts"]) == ("published", 4)


async def test_an_answer_the_ledger_could_not_record_is_filed_as_the_ledger_has_it(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One platform's `sent` cannot be written (a full disk, say): the post is filed with
    that platform still `pending` in the ledger and its record, partial, never as published."""
    mark_result = Ledger.mark_result

    def failing_for_recording2(
        ledger: Ledger, post_id: int, platform: str, result: PublishResult
    ) -> object:
        if platform == "recording2":
            raise sqlite3.OperationalError("database or disk is full")
        return mark_result(ledger, post_id, platform, result)

    monkeypatch.setattr(Ledger, "mark_result", failing_for_recording2)
    platforms = {"recording": {"enabled": True}, "recording2": {"enabled": True, "label": "b"}}
    async with running_daemon(write_config(tmp_path, platforms), registry):
        write_post(tmp_path / "inbox", "half")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    record = record_of(tmp_path, "half")
    assert record["outcome"] == "partial"
    platforms_record = record["platforms"]
    assert isinstance(platforms_record, dict)
    assert platforms_record["recording"]["ok"] is True
    assert platforms_record["recording2"]["ok"] is False
    assert platforms_record["recording2"]["state"] == "pending"


async def test_the_same_post_dropped_again_is_archived_as_a_duplicate(
    tmp_path: Path, registry: Registry
) -> None:
    """The same image and caption under another name is not sent again; its record names the earlier post."""
    config = write_config(tmp_path)
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "original", "Same words")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the first post")
        write_post(tmp_path / "inbox", "copy", "Same words")
        await wait_for(lambda: len(archived(tmp_path)) == 6, what="the copy")
    assert [post.stem for post in RECEIVED["recording"]] == ["original"]
    record = record_of(tmp_path, "copy")
    assert record["outcome"] == "duplicate"
    assert record["platforms"] == {}
    assert record["duplicate_of"] == {
        "post": "original",
        "record": str(next(p for p in archived(tmp_path) if p.name == "original.result.json")),
    }


async def test_allow_duplicates_publishes_the_same_post_again(
    tmp_path: Path, registry: Registry
) -> None:
    """With allow_duplicates: true a post dropped twice is published twice."""
    config = write_config(tmp_path, allow_duplicates=True)
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "once", "Same words")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the first post")
        write_post(tmp_path / "inbox", "twice", "Same words")
        await wait_for(lambda: len(archived(tmp_path)) == 6, what="the second post")
    assert [post.stem for post in RECEIVED["recording"]] == ["once", "twice"]


def test_pending_deliveries_become_unknown_on_recovery(tmp_path: Path) -> None:
    """A delivery left `pending` by a crash is `unknown` after `recover`, with a reason."""
    ledger = Ledger(tmp_path / "dropcast.db")
    row = ledger.open_post("abc", "post", [tmp_path / "post.jpg", tmp_path / "post.txt"])
    ledger.mark_pending(row.id, "telegram")
    ledger.mark_pending(row.id, "email")
    ledger.mark_result(row.id, "email", PublishResult(ok=True, remote_id="<id@x>"))
    assert ledger.recover() == 1
    deliveries = ledger.deliveries(row.id)
    assert deliveries["telegram"].state is DeliveryState.UNKNOWN
    assert deliveries["telegram"].error == "dropcast stopped before the platform answered"
    assert (deliveries["email"].state, deliveries["email"].remote_id) == (
        DeliveryState.SENT,
        "<id@x>",
    )


async def test_steps_made_in_one_turn_of_the_event_loop_share_one_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post's platforms all start at once: their `pending` marks go to disk together."""
    ledger = Ledger(tmp_path / "dropcast.db")
    row = ledger.open_post("abc", "post", [tmp_path / "post.jpg"])
    commits: list[int] = []
    group = ledger.group

    def counted_group() -> AbstractContextManager[None]:
        commits.append(1)
        return group()

    monkeypatch.setattr(ledger, "group", counted_group)
    shared = AsyncLedger(ledger)
    async with anyio.create_task_group() as tasks:
        for platform in ["email", "gate", "preview", "telegram"]:
            tasks.start_soon(shared.run, Ledger.mark_pending, row.id, platform)
    assert len(commits) == 1
    deliveries = ledger.deliveries(row.id).values()
    assert [(d.state, d.attempts) for d in deliveries] == [(DeliveryState.PENDING, 1)] * 4


async def test_a_step_that_fails_leaves_the_others_of_its_commit_in_place(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "dropcast.db")
    shared = AsyncLedger(ledger)
    row = ledger.open_post("abc", "post", [tmp_path / "post.jpg"])
    failures: list[Exception] = []

    async def fail() -> None:
        try:
            await shared.run(Ledger.post, row.id + 1)  # no such post
        except KeyError as error:
            failures.append(error)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(shared.run, Ledger.mark_pending, row.id, "email")
        tasks.start_soon(fail)
        tasks.start_soon(shared.run, Ledger.mark_pending, row.id, "preview")
    assert len(failures) == 1
    assert sorted(ledger.deliveries(row.id)) == ["email", "preview"]


def test_a_result_is_returned_as_the_ledger_recorded_it(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "dropcast.db")
    row = ledger.open_post("abc", "post", [tmp_path / "post.jpg"])
    ledger.mark_pending(row.id, "email")
    recorded = ledger.mark_result(row.id, "email", PublishResult(ok=True, remote_id="<id@x>"))
    assert recorded == ledger.deliveries(row.id)["email"]
    assert (recorded.state, recorded.remote_id, recorded.attempts) == (
        DeliveryState.SENT,
        "<id@x>",
        1,
    )


def test_the_ledger_survives_reopening(tmp_path: Path) -> None:
    """What was committed is there after the database is closed and opened again."""
    ledger = Ledger(tmp_path / "dropcast.db")
    row = ledger.open_post("abc", "post", [tmp_path / "post.jpg"])
    ledger.mark_pending(row.id, "preview")
    ledger.mark_result(row.id, "preview", PublishResult(ok=True, remote_id="p1", url="file:///x"))
    ledger.close()
    again = Ledger(tmp_path / "dropcast.db")
    assert again.deliveries(row.id)["preview"].url == "file:///x"
    assert (
        again.open_post("abc", "post", [tmp_path / "post.jpg"]).id == row.id
    )  # the same post resumes


def test_a_ledger_from_a_newer_dropcast_is_refused(tmp_path: Path) -> None:
    """A schema version this dropcast does not know is a clear error, not a guess."""
    Ledger(tmp_path / "dropcast.db").close()
    with sqlite3.connect(tmp_path / "dropcast.db") as database:
        database.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(
        LedgerError, match=r"written by a newer dropcast \(schema 99, this one knows 3\)"
    ):
        Ledger(tmp_path / "dropcast.db")


def test_the_ledger_uses_wal_and_full_sync(tmp_path: Path) -> None:
    """WAL lets `status` read while the daemon writes; synchronous=FULL makes each commit durable."""
    ledger = Ledger(tmp_path / "dropcast.db")
    journal = ledger._db.execute("PRAGMA journal_mode").fetchone()[0]
    synchronous = ledger._db.execute("PRAGMA synchronous").fetchone()[0]
    assert (journal, synchronous) == ("wal", 2)


def test_the_ledger_keeps_a_small_page_cache(tmp_path: Path) -> None:
    """A long-running daemon's memory does not grow with the ledger (SQLite's default: 2 MB)."""
    ledger = Ledger(tmp_path / "dropcast.db")
    assert ledger._db.execute("PRAGMA cache_size").fetchone()[0] == -256


def test_status_lists_posts_and_flags_those_needing_attention(tmp_path: Path) -> None:
    """The table shows each platform's state; partial posts and unknown deliveries need attention."""
    ledger = Ledger(tmp_path / "dropcast.db")
    good = ledger.open_post("a", "good", [tmp_path / "good.jpg"])
    ledger.mark_pending(good.id, "preview")
    ledger.mark_result(good.id, "preview", PublishResult(ok=True))
    ledger.decide(good.id, "published", {"stem": "good"})
    odd = ledger.open_post("b", "odd", [tmp_path / "odd.jpg"])
    ledger.mark_pending(odd.id, "preview")
    ledger.recover()
    rows = {row.stem: (row, ledger.deliveries(row.id)) for row in ledger.recent(10)}
    assert not needs_attention(*rows["good"])
    assert needs_attention(*rows["odd"])
    table = render_table([describe(*rows["odd"]), describe(*rows["good"])])
    lines = table.splitlines()
    assert lines[0].split() == ["SEEN", "POST", "OUTCOME", "PLATFORMS"]
    assert lines[1].split()[-4:] == ["odd", "in", "inbox", "preview:unknown"]
    assert lines[2].split()[-3:] == ["good", "published", "preview:sent"]


@pytest.fixture
def tiny_archive(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted as the archive, so that the disk can really be full."""
    archive = tmp_path / "archive"
    archive.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(archive)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield archive
    subprocess.run(["umount", str(archive)], check=True)


async def test_a_full_disk_while_writing_the_record_loses_nothing(
    tmp_path: Path, registry: Registry, tiny_archive: Path
) -> None:
    """When the record cannot be written, the post is not sent again; once space is free the record is written."""
    config = write_config(tmp_path, rescan_seconds=0.3, settle_seconds=0.2)
    image = make_image(tmp_path / "inbox" / "roomy.jpg", (300, 300))
    day = tiny_archive / "filler-day"
    day.mkdir()
    stats = os.statvfs(tiny_archive)
    room_for_post = 2 * stats.f_frsize + image.stat().st_size  # the image, the caption: no record
    filler = tiny_archive / "filler"
    filler.write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - room_for_post))
    async with running_daemon(config, registry):
        (tmp_path / "inbox" / "roomy.txt").write_text("no room for the record", encoding="utf-8")
        await wait_for(lambda: RECEIVED["recording"], what="the post to be sent")
        await wait_for(lambda: not inbox_files(tmp_path), within=5, what="the files to move")
        assert not list(tiny_archive.glob("*/roomy.result.json"))  # the disk is full
        filler.unlink()
        await wait_for(
            lambda: list(tiny_archive.glob("*/roomy.result.json")),
            what="the record once there is room",
        )
    assert len(RECEIVED["recording"]) == 1
    assert sorted(p.name for p in tiny_archive.glob("2*/*")) == [
        "roomy.jpg",
        "roomy.result.json",
        "roomy.txt",
    ]


async def test_a_failed_post_renamed_in_the_inbox_is_published_under_its_new_name(
    tmp_path: Path, registry: Registry
) -> None:
    """Renaming a post that failed once does not leave it waiting on its old, abandoned self."""
    platforms = {"recording": {"enabled": True, "fail_first": 1}}
    config = write_config(tmp_path, platforms, retry_delays=[0.3], max_attempts=5)
    inbox = tmp_path / "inbox"
    async with running_daemon(config, registry):
        write_post(inbox, "before", "Same words")
        await wait_for(lambda: RECEIVED["recording"], what="the first, failed attempt")
        for suffix in (".jpg", ".txt"):
            os.replace(inbox / f"before{suffix}", inbox / f"after{suffix}")
        await wait_for(lambda: len(archived(tmp_path)) == 3, within=15, what="the renamed post")
    assert [post.stem for post in RECEIVED["recording"]] == ["before", "after"]
    assert record_of(tmp_path, "after")["outcome"] == "published"


def test_two_connections_racing_to_claim_a_delivery_never_both_get_it(tmp_path: Path) -> None:
    """Two processes' ledgers claim one delivery at once: one gets it, the other is told no."""
    path = tmp_path / "dropcast.db"
    first, other = Ledger(path), Ledger(path)
    for round_ in range(20):
        post_id = first.open_post(f"id{round_}", f"post{round_}", [tmp_path / "a.jpg"]).id
        start = threading.Barrier(2)
        outcomes: list[str] = []

        def claim(
            ledger: Ledger,
            post_id: int = post_id,
            start: threading.Barrier = start,
            outcomes: list[str] = outcomes,
        ) -> None:
            start.wait()
            try:
                ledger.mark_pending(post_id, "email")
                outcomes.append("claimed")
            except DeliveryClaimedError as error:
                outcomes.append(str(error))

        threads = [threading.Thread(target=claim, args=(ledger,)) for ledger in (first, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == [
            "claimed",
            "email: claimed by another process (the ledger has it pending): not sent",
        ]
        assert first.deliveries(post_id)["email"].attempts == 1


def test_a_claim_is_refused_once_sent_and_allowed_after_failed_or_unknown(tmp_path: Path) -> None:
    """Failed and unknown may be sent again, by either process; sent never."""
    first, other = Ledger(tmp_path / "dropcast.db"), Ledger(tmp_path / "dropcast.db")
    row = first.open_post("abc", "post", [tmp_path / "post.jpg"])
    first.mark_pending(row.id, "email")
    first.mark_result(row.id, "email", PublishResult.failure("refused"))
    other.mark_pending(row.id, "email")
    other.mark_result(row.id, "email", PublishResult(ok=False, unknown=True, error="lost"))
    first.mark_pending(row.id, "email")
    first.mark_result(row.id, "email", PublishResult(ok=True))
    with pytest.raises(DeliveryClaimedError, match="email: already sent"):
        other.mark_pending(row.id, "email")
    assert first.deliveries(row.id)["email"].attempts == 3


def test_a_pending_claim_is_taken_again_only_by_its_own_process_or_on_an_archived_post(
    tmp_path: Path,
) -> None:
    """A pending whose answer was never recorded: its own connection, or `retry` once it is archived."""
    first, other = Ledger(tmp_path / "dropcast.db"), Ledger(tmp_path / "dropcast.db")
    row = first.open_post("abc", "post", [tmp_path / "post.jpg"])
    first.mark_pending(row.id, "email")
    with pytest.raises(DeliveryClaimedError, match="claimed by another process"):
        other.mark_pending(row.id, "email")
    first.mark_pending(row.id, "email")  # its answer could not be recorded: still its own
    first.decide(row.id, "partial", {"stem": "post"})
    first.filed(row.id, tmp_path / "post.result.json")
    other.mark_pending(row.id, "email")
    assert first.deliveries(row.id)["email"].attempts == 3
