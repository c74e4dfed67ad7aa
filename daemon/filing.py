"""Filing a post whose outcome is decided: its names, the decision, the moves, its record.

Names are chosen and reserved one post at a time; the decision (outcome and names) is in
the ledger before a file moves; the moves may be repeated. So a crash in between leaves a
post that the next start files where the ledger says (`finish_unfiled`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import anyio
import structlog

from daemon.archive import (
    RECORD_SUFFIX,
    Filing,
    carry_out,
    plan_filing,
    previous_records,
    remove_stale_temporaries,
)
from daemon.events import NO_OBSERVERS, Observers, PostConcluded
from daemon.inbox import Candidate
from daemon.ledger import AsyncLedger, Delivery, Ledger, PostRow
from daemon.record import Outcome, build_record
from daemon.stalls import STORAGE_ERRORS, Stalls, is_environmental

log = structlog.get_logger("dropcast.post")


@dataclass(frozen=True)
class Decision:
    """Where a post goes and why, as the ledger records it before its files move."""

    outcome: Outcome
    destination: Path
    error: str | None = None
    duplicate_of: int | None = None  # the earlier post's ledger id, for a duplicate
    attempted: bool = False  # it ends an attempt to publish (counted in `attempts`)


def archive_day(archive: Path) -> Path:
    """Today's folder in the archive (the local date, as the owner reads it)."""
    return archive / datetime.now().astimezone().strftime("%Y-%m-%d")


class Filer:
    """Files decided posts, keeping the names planned for posts not yet filed their own."""

    def __init__(
        self, ledger: AsyncLedger, stalls: Stalls, observers: Observers = NO_OBSERVERS
    ) -> None:
        self.ledger = ledger
        self.stalls = stalls
        self.observers = observers
        self._reserved: set[Path] = set()  # archive names planned for posts not yet filed
        self._planning = anyio.Lock()

    async def file(
        self,
        row: PostRow,
        decision: Decision,
        deliveries: dict[str, Delivery] | None = None,
        seen: Candidate | None = None,
    ) -> Outcome | None:
        """Choose the post's names, record `decision`, then file it; None if not now.

        With `seen` (the post as it was read), files that changed since stay in the inbox.
        """
        filing, changed = await self._plan(row, decision.destination, seen)
        error = decision.error
        if changed:  # replaced while being published: the new file is a new post, left in the inbox
            log.error("post.changed_while_publishing", files=[p.name for p in changed])
            names = ", ".join(p.name for p in changed)
            error = f"changed while it was published, left in the inbox: {names}"
        row = await self.ledger.run(
            Ledger.decide,
            row.id,
            str(decision.outcome),
            filing.to_json(),
            error=error,
            duplicate_of=decision.duplicate_of,
            attempted=decision.attempted,
        )
        return await self.finish(row, deliveries)

    async def finish(
        self, row: PostRow, deliveries: dict[str, Delivery] | None = None
    ) -> Outcome | None:
        """Move the post's files where the ledger says and write its record; may be repeated.

        None if that cannot be done now (a full disk, say): it is finished later.
        `deliveries`, if the caller has just read them, saves reading them again.
        """
        assert row.filing is not None
        assert row.outcome is not None
        filing = Filing.from_json(row.filing)
        if deliveries is None:
            deliveries = await self.ledger.run(Ledger.deliveries, row.id)
        earlier = (
            None
            if row.duplicate_of is None
            else await self.ledger.run(Ledger.post, row.duplicate_of)
        )
        record = build_record(row, deliveries, earlier)
        record.update(_carried_records(filing))
        try:
            record_path = await anyio.to_thread.run_sync(carry_out, filing, record)
        except OSError as error:
            self.stalls.stalled(error)
            return None
        await self.ledger.run(Ledger.filed, row.id, record_path)
        self.stalls.moved()
        self._reserved.difference_update(filing.targets)
        _log_summary(row, deliveries, filing)
        self.observers.notify(
            PostConcluded(
                row.stem,
                row.outcome,
                deliveries,
                record=record_path,
                error=row.error,
                attempts=row.attempts,
            )
        )
        return Outcome(row.outcome)

    async def finish_unfiled(self, skip: Collection[str] = ()) -> None:
        """File every post whose outcome was decided but whose files did not all move.

        `skip` names posts being handled right now, which finish their own filing.
        """
        try:
            unfiled = await self.ledger.run(Ledger.unfiled)
        except STORAGE_ERRORS as error:  # looked at again at the next sweep
            if not is_environmental(error):
                raise
            self.stalls.stalled(error)
            return
        for row in unfiled:  # before any new name is chosen, keep these posts' names theirs
            self._reserved.update(_filing(row).targets)
        for row in unfiled:
            if row.stem not in skip:
                with structlog.contextvars.bound_contextvars(post=row.stem):
                    await self._finish_interrupted(row)

    async def _finish_interrupted(self, row: PostRow) -> None:
        """Finish a filing that a crash or a full disk cut short, first removing its half copies."""
        folder = _filing(row).destination
        removed = await anyio.to_thread.run_sync(remove_stale_temporaries, folder)
        if removed:
            log.warning("post.half_copy_removed", files=[str(p) for p in removed])
        await self.finish(row)

    async def _plan(
        self, row: PostRow, destination: Path, seen: Candidate | None
    ) -> tuple[Filing, list[Path]]:
        """The post's names in `destination`, reserved, and the files that changed since `seen`."""
        async with self._planning:  # names are chosen and reserved one post at a time
            filing, changed = await anyio.to_thread.run_sync(
                _plan_unchanged, row, seen, destination, frozenset(self._reserved)
            )
            self._reserved.update(filing.targets)
        return filing, changed


def _filing(row: PostRow) -> Filing:
    assert row.filing is not None
    return Filing.from_json(row.filing)


def _plan_unchanged(
    row: PostRow, seen: Candidate | None, destination: Path, reserved: frozenset[Path]
) -> tuple[Filing, list[Path]]:
    """The filing of the post's files that did not change since `seen`, and those that did.

    One worker-thread trip for both: each trip costs more than the few `lstat`s it makes.
    """
    changed = [] if seen is None else _changed_since_seen(seen)
    files = [path for path in row.files if path not in changed]
    # A post moved back from failed/ brings its old record: it goes along, under a new name.
    previous = previous_records(row.files[0].parent, row.stem) if row.files else []
    return plan_filing(files, row.stem, destination, reserved, previous), changed


def _carried_records(filing: Filing) -> dict[str, list[str]]:
    """For the new record: the earlier turns' records this filing moves beside it, if any."""
    names = [
        target.name
        for _, target in filing.moves
        if target.name.endswith(RECORD_SUFFIX) and target != filing.record_path
    ]
    return {"previous_records": names} if names else {}


def _changed_since_seen(candidate: Candidate) -> list[Path]:
    """The candidate's files whose size or mtime differ from when the post was read."""
    changed = []
    for file in candidate.files:
        try:
            info = os.lstat(file.path)
        except FileNotFoundError:
            continue
        if (info.st_size, info.st_mtime_ns) != file.signature:
            changed.append(file.path)
    return changed


def _log_summary(row: PostRow, deliveries: Mapping[str, Delivery], filing: Filing) -> None:
    """The one summary event per post, once it is filed, with the name it was filed under
    (`party-1` beside an earlier `party`)."""
    outcome = Outcome(row.outcome or "failed")
    event = {
        Outcome.PUBLISHED: "post.published",
        Outcome.PARTIAL: "post.partial",
        Outcome.DUPLICATE: "post.archived_duplicate",
        Outcome.FAILED: "post.failed",
    }[outcome]
    log.log(
        logging.WARNING if outcome is Outcome.FAILED else logging.INFO,
        event,
        outcome=str(outcome),
        attempts=row.attempts,
        moved_to=str(filing.destination),
        archived_as=filing.stem,
        duration_ms={name: delivery.duration_ms for name, delivery in deliveries.items()},
        platforms={name: str(delivery.state) for name, delivery in deliveries.items()},
    )
