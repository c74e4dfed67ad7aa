"""Per-destination progress in the ledger: durable marks, a sent one kept, recovery, migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from daemon.ledger import DeliveryState, Ledger
from daemon.post import Post
from daemon.progress import Destination, DestinationState, MemoryProgress
from daemon.publisher import PublishResult
from tests.fakes.ledger import admitted, ledger_progress

SENT, REFUSED = DestinationState.SENT, DestinationState.REFUSED
PENDING, UNKNOWN = DestinationState.PENDING, DestinationState.UNKNOWN


def _post(folder: Path, stem: str = "sunset") -> Post:
    return Post(stem, (folder / f"{stem}.jpg",), folder / f"{stem}.txt", "Red sky", identity=stem)


class TestMarks:
    async def test_marks_survive_the_process_that_made_them(self, tmp_path: Path) -> None:
        """What one ledger connection marked, the next one (a restart) reads back."""
        with ledger_progress(tmp_path) as progress:
            post = admitted(progress, _post(tmp_path))
            destinations = progress.for_post(post, "email")
            await destinations.sending(["a@x", "b@x"])
            await destinations.sent("a@x", "<id@x>")
            await destinations.refused("b@x", "452 mailbox full")
        with ledger_progress(tmp_path) as progress:
            known = await progress.for_post(post, "email").known()
        assert {name: d.state for name, d in known.items()} == {"a@x": SENT, "b@x": REFUSED}
        assert known["a@x"].remote_id == "<id@x>"

    async def test_a_sent_destination_is_never_marked_otherwise(self, tmp_path: Path) -> None:
        """A late `sending` or `unknown` for a destination that has the post changes nothing."""
        with ledger_progress(tmp_path) as progress:
            destinations = progress.for_post(admitted(progress, _post(tmp_path)), "telegram")
            await destinations.sent("@chan#0", "7", "https://t.me/chan/7")
            await destinations.sending(["@chan#0"])
            await destinations.unknown("@chan#0", "no answer")
            known = await destinations.known()
        assert known["@chan#0"] == Destination("@chan#0", SENT, "7", "https://t.me/chan/7")

    async def test_a_later_mark_keeps_the_ids_it_does_not_name(self, tmp_path: Path) -> None:
        """In the ledger and in memory alike, a record key stored with `pending` outlives the
        `unknown` that settles it, so a platform can look the post up by it."""
        memory = MemoryProgress()
        with ledger_progress(tmp_path) as progress:
            for store in (progress, memory):
                post = admitted(progress, _post(tmp_path))
                destinations = store.for_post(post, "bluesky")
                await destinations.mark([Destination("part 1", PENDING, "at://did/post/3k")])
                await destinations.settle_pending("no answer")
                known = await destinations.known()
                assert known["part 1"] == Destination(
                    "part 1", UNKNOWN, "at://did/post/3k", error="no answer"
                )

    async def test_each_post_and_platform_has_its_own(self, tmp_path: Path) -> None:
        """Marks are keyed by the post's ledger row and the platform, not by content or name."""
        with ledger_progress(tmp_path) as progress:
            first = admitted(progress, _post(tmp_path, "first"))
            second = admitted(progress, _post(tmp_path, "second"))
            await progress.for_post(first, "email").sent("a@x")
            assert await progress.for_post(second, "email").known() == {}
            assert await progress.for_post(first, "telegram").known() == {}

    async def test_a_delivery_carries_its_destinations(self, tmp_path: Path) -> None:
        """The record and `status` read each destination through the post's deliveries."""
        with ledger_progress(tmp_path) as progress:
            post = admitted(progress, _post(tmp_path))
            await progress.for_post(post, "email").sent("a@x")
            assert progress.ledger is not None
            ledger = progress.ledger.ledger
            assert post.ledger_id is not None
            ledger.mark_result(post.ledger_id, "email", PublishResult(ok=True))
            delivery = ledger.deliveries(post.ledger_id)["email"]
        assert delivery.destinations == (Destination("a@x", SENT),)


class TestRecovery:
    async def test_a_destination_pending_at_a_crash_is_unknown_at_the_next_start(
        self, tmp_path: Path
    ) -> None:
        """Its request may have arrived: after a restart it is unknown, never pending again."""
        with ledger_progress(tmp_path) as progress:
            post = admitted(progress, _post(tmp_path))
            await progress.for_post(post, "email").sending(["a@x"])
        ledger = Ledger(tmp_path / "dropcast.db")
        ledger.recover()
        assert post.ledger_id is not None
        [destination] = ledger.destinations(post.ledger_id, "email").values()
        ledger.close()
        assert destination.state is UNKNOWN
        assert destination.error == "dropcast stopped before the platform answered"


def test_a_ledger_of_schema_1_is_upgraded_keeping_its_posts(tmp_path: Path) -> None:
    """An earlier dropcast's ledger gains the destinations table; nothing in it is lost."""
    path = tmp_path / "dropcast.db"
    ledger = Ledger(path)
    row = ledger.open_post("abc", "sunset", [tmp_path / "sunset.jpg"])
    ledger._db.execute("DROP TABLE destinations")  # what schema 2 added
    ledger._db.execute("ALTER TABLE deliveries DROP COLUMN tracked")
    ledger._db.execute("UPDATE schema_version SET version = 1")
    ledger.close()
    upgraded = Ledger(path)
    upgraded.mark_destinations(row.id, "email", [Destination("a@x", PENDING)])
    upgraded.mark_pending(row.id, "email", tracked=True)
    assert upgraded.post(row.id).stem == "sunset"
    upgraded.close()
    with sqlite3.connect(path) as database:
        assert database.execute("SELECT version FROM schema_version").fetchall() == [(3,)]


def test_a_ledger_of_schema_2_gains_the_tracked_column(tmp_path: Path) -> None:
    """A ledger with destinations but no `tracked` (schema 2) is upgraded, not broken."""
    path = tmp_path / "dropcast.db"
    ledger = Ledger(path)
    row = ledger.open_post("abc", "sunset", [tmp_path / "sunset.jpg"])
    ledger._db.execute("ALTER TABLE deliveries DROP COLUMN tracked")
    ledger._db.execute("UPDATE schema_version SET version = 2")
    ledger.close()
    upgraded = Ledger(path)
    upgraded.mark_pending(row.id, "email", tracked=True)
    assert upgraded.recover() == 0  # tracked, nothing in doubt: failed, not unknown
    assert upgraded.deliveries(row.id)["email"].state is DeliveryState.FAILED
    upgraded.close()


def test_the_daemon_and_retry_each_recover_only_their_own_posts(tmp_path: Path) -> None:
    """The daemon's start leaves an archived post a retry is sending alone, and the retry
    leaves the inbox's posts to the daemon."""
    ledger = Ledger(tmp_path / "dropcast.db")
    inbox = ledger.open_post("a", "inbox", [tmp_path / "inbox.jpg"])
    archived = ledger.open_post("b", "archived", [tmp_path / "archived.jpg"])
    ledger.filed(archived.id, tmp_path / "archived.result.json")
    for row in (inbox, archived):
        ledger.mark_pending(row.id, "email")
    assert ledger.recover() == 1
    assert ledger.deliveries(archived.id)["email"].state is DeliveryState.PENDING
    assert ledger.recover(archived=True) == 1
    assert ledger.deliveries(archived.id)["email"].state is DeliveryState.UNKNOWN
    ledger.close()
