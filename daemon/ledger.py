"""The ledger: what happened to every post on every platform, kept in SQLite so it survives crashes.

One row per post (its identity, a SHA-256 of the image and caption, its stem and files) and
one per delivery of a post to a platform: `pending` (a request is about to be made), `sent` (the
platform accepted it), `failed`, or `unknown` (dropcast died between `pending` and an answer).
Every change is committed before the next step, so after a crash the ledger says exactly
which platforms already have a post; a platform that has it is never sent it again.

The database runs in WAL mode with `synchronous=FULL`: a committed change survives a power
cut, and `dropcast status` or `retry` can read while the daemon writes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import anyio
import anyio.lowlevel

from daemon.post import Post
from daemon.progress import (
    Destination,
    Destinations,
    DestinationState,
    MemoryProgress,
    ProgressStore,
)
from daemon.publisher import PublishResult

SCHEMA_VERSION = 3
_POSTS_AND_DELIVERIES = """
CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    identity TEXT NOT NULL,
    stem TEXT NOT NULL,
    files TEXT NOT NULL,                -- JSON list of the post's paths in the inbox
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,               -- wall-clock time before which it is not tried again
    outcome TEXT,                       -- set once decided: published, partial, failed, duplicate
    error TEXT,                         -- why it failed or was rejected
    duplicate_of INTEGER REFERENCES posts (id),
    filing TEXT,                        -- JSON: where its files go (set with the outcome)
    filed_at REAL,                      -- when they got there
    record_path TEXT
);
CREATE INDEX posts_by_identity ON posts (identity);
CREATE INDEX posts_by_stem ON posts (stem);
CREATE TABLE deliveries (
    post_id INTEGER NOT NULL REFERENCES posts (id),
    platform TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'unknown')),
    remote_id TEXT,
    url TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    notes TEXT NOT NULL DEFAULT '[]',   -- JSON list of notes from the platform
    updated_at REAL NOT NULL,
    tracked INTEGER NOT NULL DEFAULT 0, -- its platform marks each destination before sending
    PRIMARY KEY (post_id, platform)
);
"""
_DESTINATIONS = """
CREATE TABLE destinations (
    post_id INTEGER NOT NULL REFERENCES posts (id),
    platform TEXT NOT NULL,
    name TEXT NOT NULL,                 -- a chat and message part, a recipient, ...
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'refused', 'unknown')),
    remote_id TEXT,
    url TEXT,
    error TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (post_id, platform, name)
);
"""
_SCHEMA = _POSTS_AND_DELIVERIES + _DESTINATIONS
# What each older schema needs to become this one.
_MIGRATIONS = {
    1: _DESTINATIONS,
    2: "ALTER TABLE deliveries ADD COLUMN tracked INTEGER NOT NULL DEFAULT 0",
}

P = ParamSpec("P")
T = TypeVar("T")


def ledger_path(state_dir: Path) -> Path:
    return state_dir / "dropcast.db"


class LedgerError(Exception):
    """Raised when the ledger database cannot be opened: damaged, or from a newer dropcast."""


class DeliveryClaimedError(Exception):
    """Raised when a delivery cannot be claimed: another process is sending it, or it was sent."""


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Delivery:
    """One platform's part in one post."""

    platform: str
    state: DeliveryState
    remote_id: str | None
    url: str | None
    error: str | None
    attempts: int
    duration_ms: int
    notes: tuple[str, ...] = ()
    destinations: tuple[Destination, ...] = ()  # its chats, recipients, parts: each one's state


@dataclass(frozen=True)
class PostRow:
    """A post as the ledger knows it."""

    id: int
    identity: str
    stem: str
    files: tuple[Path, ...]
    created_at: float
    attempts: int
    next_attempt_at: float | None
    outcome: str | None
    error: str | None
    duplicate_of: int | None
    filing: dict[str, Any] | None
    filed_at: float | None
    record_path: Path | None

    @property
    def decided(self) -> bool:
        return self.outcome is not None


@dataclass(frozen=True)
class Admission:
    """A post as it comes in, with what the ledger knows about it, read in one step."""

    row: PostRow
    same_content: list[tuple[PostRow, bool]]  # as `Ledger.same_content`
    deliveries: dict[str, Delivery]


CACHE_KIB = 256  # SQLite's page cache for the ledger


class Ledger:
    """The SQLite ledger. Blocking: the daemon calls it through `AsyncLedger`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._claims: set[tuple[int, str]] = set()  # deliveries this connection marked pending
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.row_factory = sqlite3.Row
            self._prepare()
        except sqlite3.DatabaseError as error:
            raise LedgerError(
                f"{path}: the ledger database is damaged ({error}). Nothing in the inbox was "
                "touched. Move the file aside to start a new ledger (dropcast then no longer "
                "knows which platforms already have the posts still in the inbox)."
            ) from None

    @classmethod
    def read_only(cls, path: Path) -> Ledger:
        """The ledger opened only to read, beside the daemon that writes it (the status page):
        no schema step, no check, no claim; any write raises `sqlite3.OperationalError`."""
        ledger = cls.__new__(cls)
        ledger.path, ledger._claims = path, set()
        uri = f"{path.absolute().as_uri()}?mode=ro"
        ledger._db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
        ledger._db.row_factory = sqlite3.Row
        return ledger

    def _prepare(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        # Each step touches a handful of rows; SQLite's default 2 MB page cache only grows
        # the daemon's memory as the ledger grows (the OS caches the file anyway).
        self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        if self._db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("quick_check failed")
        with self._transaction():
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._db.execute("SELECT version FROM schema_version").fetchone()
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise LedgerError(
                    f"{self.path}: the ledger was written by a newer dropcast (schema {version}, "
                    f"this one knows {SCHEMA_VERSION}); upgrade dropcast"
                )
            if version == 0:
                self._script(_SCHEMA)
                self._db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif version < SCHEMA_VERSION:
                for older in range(version, SCHEMA_VERSION):
                    self._script(_MIGRATIONS[older])
                self._db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

    def _script(self, script: str) -> None:
        for statement in script.split(";"):
            if statement.strip():
                self._db.execute(statement)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One step, committed on its own, or a savepoint inside a `group` of steps."""
        if self._db.in_transaction:
            with self.savepoint():
                yield
            return
        with self.group():
            yield

    @contextmanager
    def group(self) -> Iterator[None]:
        """Commit every step inside at once: one sync to disk for all of them."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self._db.execute("SAVEPOINT step")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK TO step")
            self._db.execute("RELEASE step")
            raise
        self._db.execute("RELEASE step")

    def close(self) -> None:
        self._db.close()

    # --- posts -----------------------------------------------------------------------

    def open_post(self, identity: str, stem: str, files: list[Path]) -> PostRow:
        """The not yet filed row for these files with this content, or a new one."""
        row = self._db.execute(
            "SELECT * FROM posts WHERE identity = ? AND files = ? AND filed_at IS NULL "
            "ORDER BY id DESC LIMIT 1",
            (identity, _paths_json(files)),
        ).fetchone()
        now = time.time()
        with self._transaction():
            if row is None:
                cursor = self._db.execute(
                    "INSERT INTO posts (identity, stem, files, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                    (identity, stem, _paths_json(files), now, now),
                )
                post_id = int(cursor.lastrowid or 0)
            else:
                post_id = int(row["id"])
                self._db.execute("UPDATE posts SET updated_at = ? WHERE id = ?", (now, post_id))
        return self.post(post_id)

    def admit(self, identity: str, stem: str, files: list[Path]) -> Admission:
        """`open_post`, and the post's other copies and deliveries so far, in one step."""
        row = self.open_post(identity, stem, files)
        return Admission(row, self.same_content(identity, row.id), self.deliveries(row.id))

    def post(self, post_id: int) -> PostRow:
        row = self._db.execute("SELECT * FROM posts WHERE id = ?", (post_id,)).fetchone()
        if row is None:
            raise KeyError(post_id)
        return _post_row(row)

    def same_content(self, identity: str, post_id: int) -> list[tuple[PostRow, bool]]:
        """Other posts with this identity, oldest first, each with whether a platform has
        (or may have) accepted it."""
        rows = self._db.execute(
            "SELECT p.*, EXISTS (SELECT 1 FROM deliveries d WHERE d.post_id = p.id "
            "AND d.state IN ('sent', 'pending', 'unknown')) AS delivered "
            "FROM posts p WHERE p.identity = ? AND p.id != ? ORDER BY p.id",
            (identity, post_id),
        )
        return [(_post_row(row), bool(row["delivered"])) for row in rows]

    def record_attempt(self, post_id: int, next_attempt_at: float | None) -> PostRow:
        """One more attempt at the post; if it will be tried again, not before `next_attempt_at`."""
        with self._transaction():
            self._db.execute(
                "UPDATE posts SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ? WHERE id = ?",
                (next_attempt_at, time.time(), post_id),
            )
        return self.post(post_id)

    def decide(
        self,
        post_id: int,
        outcome: str,
        filing: dict[str, Any],
        *,
        error: str | None = None,
        duplicate_of: int | None = None,
        attempted: bool = False,
    ) -> PostRow:
        """Record the outcome and where the files go, before any file moves; `attempted`
        counts the attempt that led here (as `record_attempt` would, in the same step)."""
        with self._transaction():
            self._db.execute(
                "UPDATE posts SET outcome = ?, filing = ?, error = COALESCE(?, error), "
                "duplicate_of = ?, attempts = attempts + ?, next_attempt_at = NULL, "
                "updated_at = ? WHERE id = ?",
                (
                    outcome,
                    json.dumps(filing),
                    error,
                    duplicate_of,
                    int(attempted),
                    time.time(),
                    post_id,
                ),
            )
        return self.post(post_id)

    def filed(self, post_id: int, record_path: Path) -> None:
        """The post's files and its record are where `decide` said."""
        now = time.time()
        with self._transaction():
            self._db.execute(
                "UPDATE posts SET filed_at = ?, record_path = ?, updated_at = ? WHERE id = ?",
                (now, str(record_path), now, post_id),
            )

    def set_outcome(self, post_id: int, outcome: str) -> None:
        """After `retry`: the outcome of a post already in the archive."""
        with self._transaction():
            self._db.execute(
                "UPDATE posts SET outcome = ?, updated_at = ? WHERE id = ?",
                (outcome, time.time(), post_id),
            )

    def unfiled(self) -> list[PostRow]:
        """Posts decided but not (completely) filed: a crash came between the two."""
        rows = self._db.execute(
            "SELECT * FROM posts WHERE outcome IS NOT NULL AND filing IS NOT NULL AND filed_at IS NULL"
        )
        return [_post_row(row) for row in rows]

    def recent(self, limit: int) -> list[PostRow]:
        rows = self._db.execute("SELECT * FROM posts ORDER BY id DESC LIMIT ?", (limit,))
        return [_post_row(row) for row in rows]

    def by_stem(self, stem: str) -> list[PostRow]:
        """Archived posts named `stem` (their inbox name or archive name), newest first."""
        rows = self._db.execute(
            "SELECT * FROM posts WHERE filed_at IS NOT NULL AND (stem = ? OR json_extract(filing, '$.stem') = ?) "
            "ORDER BY id DESC",
            (stem, stem),
        )
        return [_post_row(row) for row in rows]

    def retryable(self) -> list[PostRow]:
        """Archived posts with a platform that failed or whose answer is unknown (or pending:
        an archived post is in flight nowhere, so its answer could not be recorded)."""
        rows = self._db.execute(
            "SELECT DISTINCT p.* FROM posts p JOIN deliveries d ON d.post_id = p.id "
            "WHERE p.filed_at IS NOT NULL AND p.outcome IN ('partial', 'published') "
            "AND d.state IN ('failed', 'unknown', 'pending') ORDER BY p.id"
        )
        return [_post_row(row) for row in rows]

    # --- deliveries --------------------------------------------------------------------

    def deliveries(self, post_id: int) -> dict[str, Delivery]:
        """The post's deliveries, each with its destinations."""
        rows = self._db.execute(
            "SELECT * FROM deliveries WHERE post_id = ? ORDER BY platform", (post_id,)
        )
        found = {row["platform"]: _delivery(row) for row in rows}
        for platform, destinations in self.all_destinations(post_id).items():
            if platform in found:
                found[platform] = replace(found[platform], destinations=(*destinations.values(),))
        return found

    def mark_pending(self, post_id: int, platform: str, tracked: bool = False) -> None:
        """Claim the delivery: a request to `platform` is about to be made, by this process only.

        A compare-and-set in one statement: claimed if new, `failed` or `unknown`, or `pending`
        from this connection's own claim (its answer could not be recorded) or on an archived
        post (only `dropcast retry` sends those, one at a time); never if `sent`, nor if another
        process has it `pending`. Raises `DeliveryClaimedError` then: it must not be sent.

        `tracked`: the platform marks each destination right before its first byte, so
        what it may have sent is in the destinations, and the delivery's own `pending`
        claims only the right to send.
        """
        key = (post_id, platform)
        with self._transaction():
            if not self._set_delivery(
                post_id,
                platform,
                DeliveryState.PENDING,
                None,
                add_attempts=1,
                own=key in self._claims,
            ):
                state = self._db.execute(
                    "SELECT state FROM deliveries WHERE post_id = ? AND platform = ?", key
                ).fetchone()["state"]
                who = "already sent" if state == "sent" else "claimed by another process"
                raise DeliveryClaimedError(
                    f"{platform}: {who} (the ledger has it {state}): not sent"
                )
            self._db.execute(
                "UPDATE deliveries SET tracked = ? WHERE post_id = ? AND platform = ?",
                (int(tracked), post_id, platform),
            )
        self._claims.add(key)

    def mark_result(self, post_id: int, platform: str, result: PublishResult) -> Delivery:
        """`platform`'s attempt ended: sent, refused (`failed`) or unknown. Returns the
        delivery as now recorded."""
        state = {
            "sent": DeliveryState.SENT,
            "refused": DeliveryState.FAILED,
            "unknown": DeliveryState.UNKNOWN,
        }[result.outcome]
        self._set_delivery(post_id, platform, state, result)
        row = self._db.execute(
            "SELECT * FROM deliveries WHERE post_id = ? AND platform = ?", (post_id, platform)
        ).fetchone()
        destinations = self.destinations(post_id, platform).values()
        return replace(_delivery(row), destinations=(*destinations,))

    def recover(self, *, archived: bool = False) -> int:
        """What a crash left `pending`, in the posts still in the inbox (the daemon, at its
        start) or, with `archived`, in archived ones (`dropcast retry`, before it sends).

        A destination's request may have arrived: `unknown`. A delivery of a platform that
        marks its destinations is `unknown` only if one of them is in doubt; otherwise
        nothing of it was sent (dropcast died loading the platform's library, or preparing
        the images) and it is `failed`, safe to send at the next attempt. Any other pending
        delivery is `unknown`. Returns how many deliveries that made unknown."""
        now = time.time()
        # Each statement below touches only posts in the inbox, or with `archived` only
        # archived ones: (filed_at IS NOT NULL) = ?.
        with self._transaction():
            self._db.execute(
                "UPDATE deliveries SET state = 'failed', updated_at = ?, error = ? "
                "WHERE state = 'pending' AND tracked "
                "AND post_id IN (SELECT id FROM posts WHERE (filed_at IS NOT NULL) = ?) "
                "AND NOT EXISTS (SELECT 1 "
                "FROM destinations d WHERE d.post_id = deliveries.post_id "
                "AND d.platform = deliveries.platform AND d.state IN ('pending', 'unknown'))",
                (
                    now,
                    "dropcast stopped before anything was sent: sent at the next attempt",
                    archived,
                ),
            )
            lost = (now, "dropcast stopped before the platform answered", archived)
            cursor = self._db.execute(
                "UPDATE deliveries SET state = 'unknown', updated_at = ?, error = ? "
                "WHERE state = 'pending' "
                "AND post_id IN (SELECT id FROM posts WHERE (filed_at IS NOT NULL) = ?)",
                lost,
            )
            self._db.execute(
                "UPDATE destinations SET state = 'unknown', updated_at = ?, error = ? "
                "WHERE state = 'pending' "
                "AND post_id IN (SELECT id FROM posts WHERE (filed_at IS NOT NULL) = ?)",
                lost,
            )
        return cursor.rowcount

    # --- destinations ------------------------------------------------------------------

    def destinations(self, post_id: int, platform: str) -> dict[str, Destination]:
        rows = self._db.execute(
            "SELECT * FROM destinations WHERE post_id = ? AND platform = ? ORDER BY rowid",
            (post_id, platform),
        )
        return {row["name"]: _destination(row) for row in rows}

    def all_destinations(self, post_id: int) -> dict[str, dict[str, Destination]]:
        """Every platform's destinations of a post, by platform."""
        found: dict[str, dict[str, Destination]] = {}
        rows = self._db.execute(
            "SELECT * FROM destinations WHERE post_id = ? ORDER BY platform, rowid", (post_id,)
        )
        for row in rows:
            found.setdefault(row["platform"], {})[row["name"]] = _destination(row)
        return found

    def mark_destinations(
        self, post_id: int, platform: str, destinations: list[Destination]
    ) -> None:
        """Record these destinations' states; a destination that was `sent` stays so."""
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT INTO destinations (post_id, platform, name, state, remote_id, url, "
                "error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (post_id, platform, name) DO UPDATE SET state = excluded.state, "
                "remote_id = COALESCE(excluded.remote_id, remote_id), "
                "url = COALESCE(excluded.url, url), error = excluded.error, "
                "updated_at = excluded.updated_at WHERE destinations.state != 'sent'",
                [
                    (post_id, platform, d.name, str(d.state), d.remote_id, d.url, d.error, now)
                    for d in destinations
                ],
            )

    def _set_delivery(
        self,
        post_id: int,
        platform: str,
        state: DeliveryState,
        result: PublishResult | None,
        add_attempts: int = 0,
        own: bool | None = None,
    ) -> bool:
        """Write the delivery; with `own` set, only as `mark_pending` may claim it. Whether written."""
        remote_id, url, error, duration_ms, notes = _result_columns(result)
        attempts = add_attempts + (0 if result is None else max(0, result.attempts - 1))
        with self._transaction():
            now = time.time()
            columns = (post_id, platform, str(state), remote_id, url, error, attempts)
            # The insert's ten columns, then the update's own: the attempts to add, who may claim.
            parameters = (*columns, duration_ms, notes, now, attempts, own is None, bool(own))
            cursor = self._db.execute(_UPSERT_DELIVERY, parameters)
        return cursor.rowcount == 1


# Insert or update one delivery. Unless claiming (`own` given, by `mark_pending`, which says
# who may), an update always goes through; a claim takes only a failed or unknown delivery,
# or a pending one that is its own or that belongs to an archived post.
_UPSERT_DELIVERY = (
    "INSERT INTO deliveries (post_id, platform, state, remote_id, url, error, attempts, "
    "duration_ms, notes, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (post_id, platform) DO UPDATE SET notes = excluded.notes, "
    "state = excluded.state, remote_id = COALESCE(excluded.remote_id, remote_id), "
    "url = COALESCE(excluded.url, url), error = excluded.error, "
    "attempts = attempts + ?, duration_ms = excluded.duration_ms, "
    "updated_at = excluded.updated_at "
    "WHERE ? OR deliveries.state IN ('failed', 'unknown') OR "
    "(deliveries.state = 'pending' AND (? OR "
    "(SELECT filed_at FROM posts WHERE id = deliveries.post_id) IS NOT NULL))"
)


def _result_columns(
    result: PublishResult | None,
) -> tuple[str | None, str | None, str | None, int, str]:
    """A result's remote id, URL, error, duration and notes (JSON), as the ledger stores them."""
    if result is None:
        return None, None, None, 0, "[]"
    notes = json.dumps(list(result.notes))
    return result.remote_id, result.url, result.error, result.duration_ms, notes


class AsyncLedger:
    """The ledger for the event loop: calls run in a worker thread, with group commit.

    Calls made while a commit is on its way to disk wait and then go together, in one
    transaction (each in its own savepoint): each caller still returns only once its own
    step is durable, but concurrent posts share the cost of syncing to disk.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._queue: list[_Step[Any]] = []
        self._committing = False

    async def run(
        self, method: Callable[Concatenate[Ledger, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        step: _Step[T] = _Step(partial(method, self.ledger, *args, **kwargs))
        self._queue.append(step)
        if not self._committing:
            await self._commit_queued()
        await step.done.wait()
        return step.outcome()

    async def _commit_queued(self) -> None:
        self._committing = True
        try:
            # Shielded: the steps of other posts wait on this commit; let it finish.
            with anyio.CancelScope(shield=True):
                # Let the steps that other tasks make in this same turn of the event loop
                # (a post's platforms all start at once) join the first commit.
                await anyio.lowlevel.checkpoint()
                while self._queue:
                    group, self._queue = self._queue, []
                    await anyio.to_thread.run_sync(self._commit, group)
                    for step in group:
                        step.done.set()
        finally:
            self._committing = False

    def _commit(self, group: list[_Step[Any]]) -> None:
        try:
            with self.ledger.group():
                for step in group:
                    step.call_in_savepoint(self.ledger)
        except Exception as error:  # the commit itself failed: no step of the group happened
            for step in group:
                step.failed(error)


class _Step(Generic[T]):
    """One ledger call waiting for its group's commit."""

    def __init__(self, call: Callable[[], T]) -> None:
        self.call = call
        self.done = anyio.Event()
        self._result: T | None = None
        self._error: BaseException | None = None

    def call_in_savepoint(self, ledger: Ledger) -> None:
        try:
            with ledger.savepoint():
                self._result = self.call()
        except Exception as error:
            self._error = error

    def failed(self, error: BaseException) -> None:
        self._error = self._error or error

    def outcome(self) -> T:
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]


class LedgerProgress(ProgressStore):
    """Per-destination progress kept in the ledger, each mark committed before it returns.

    The publishers are made before the ledger is opened: `attach` it before the first post.
    """

    def __init__(self, ledger: AsyncLedger | None = None) -> None:
        self.ledger = ledger
        self._unadmitted = MemoryProgress()

    def attach(self, ledger: AsyncLedger) -> None:
        self.ledger = ledger

    def for_post(self, post: Post, platform: str) -> Destinations:
        if self.ledger is None:  # a publisher used before the daemon opened its ledger
            return self._unadmitted.for_post(post, platform)
        if post.ledger_id is None:  # a bug: what it sent would be forgotten at once
            raise ValueError(f"{post.stem}: a post the ledger has not admitted cannot be sent")
        return _LedgerDestinations(self.ledger, post.ledger_id, platform)


class _LedgerDestinations(Destinations):
    def __init__(self, ledger: AsyncLedger, post_id: int, platform: str) -> None:
        self.ledger, self.post_id, self.platform = ledger, post_id, platform

    async def known(self) -> dict[str, Destination]:
        return await self.ledger.run(Ledger.destinations, self.post_id, self.platform)

    async def mark(self, destinations: Iterable[Destination]) -> None:
        marks = list(destinations)
        if marks:
            with anyio.CancelScope(shield=True):  # an answer that came is never forgotten
                await self.ledger.run(Ledger.mark_destinations, self.post_id, self.platform, marks)


def _paths_json(files: list[Path]) -> str:
    return json.dumps([str(path) for path in files])


def _post_row(row: sqlite3.Row) -> PostRow:
    return PostRow(
        id=int(row["id"]),
        identity=row["identity"],
        stem=row["stem"],
        files=tuple(Path(p) for p in json.loads(row["files"])),
        created_at=float(row["created_at"]),
        attempts=int(row["attempts"]),
        next_attempt_at=row["next_attempt_at"],
        outcome=row["outcome"],
        error=row["error"],
        duplicate_of=row["duplicate_of"],
        filing=None if row["filing"] is None else json.loads(row["filing"]),
        filed_at=row["filed_at"],
        record_path=None if row["record_path"] is None else Path(row["record_path"]),
    )


def _destination(row: sqlite3.Row) -> Destination:
    return Destination(
        name=row["name"],
        state=DestinationState(row["state"]),
        remote_id=row["remote_id"],
        url=row["url"],
        error=row["error"],
    )


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        platform=row["platform"],
        state=DeliveryState(row["state"]),
        remote_id=row["remote_id"],
        url=row["url"],
        error=row["error"],
        attempts=int(row["attempts"]),
        duration_ms=int(row["duration_ms"]),
        notes=tuple(json.loads(row["notes"])),
    )
