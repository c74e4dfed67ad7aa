"""The inbox as the daemon tracks it: when a post is complete, which are due, and the files
that wait too long.

Pairing (which files make a post) is `daemon.pairing`; why a file waits, `daemon.waiting`.
A post is complete when none of its files has changed (size and mtime) for `settle_seconds`,
or at once for a file that arrived by a rename inside the inbox (write `x.jpg.part`, then
rename). A file that waits (a caption without its image, say) for `orphan_warning_seconds`
is warned about once, and listed for the owner until it stops waiting.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import structlog

from daemon.events import InboxWaiting, WaitingFile
from daemon.pairing import (
    CAPTION_SUFFIX,
    IMAGE_SUFFIXES,
    UNSUPPORTED_IMAGE_SUFFIXES,
    Candidate,
    FileTable,
    InboxFile,
    album_member,
    is_ignored,
    is_undecodable,
    not_a_file,
    shown_name,
    split_name,
    temporaries_of,
)
from daemon.waiting import Wait, undecodable_waits, waits_of

__all__ = [  # what the rest of dropcast has always found here
    "CAPTION_SUFFIX",
    "IMAGE_SUFFIXES",
    "MTIME_CREDIT_SECONDS",
    "UNSUPPORTED_IMAGE_SUFFIXES",
    "Candidate",
    "FileTable",
    "Inbox",
    "InboxFile",
    "SettleTracker",
    "album_member",
    "is_ignored",
    "is_undecodable",
    "not_a_file",
    "shown_name",
    "split_name",
    "temporaries_of",
]

log = structlog.get_logger("dropcast.inbox")

# A file's settle time counts from its mtime, up to this long before dropcast saw it (the
# file-system events' delay): enough to hide that delay, too little for a skewed clock to matter.
MTIME_CREDIT_SECONDS = 0.25
# The default for `orphan_warning_seconds`: long enough for any copy that is still under way,
# short enough that the owner hears of it the same minute.
ORPHAN_WARNING_SECONDS = 60.0


class SettleTracker:
    """Remembers since when each file has looked the same, to tell when a post is complete."""

    def __init__(self, settle_seconds: float, mtime_credit: float = 0.0) -> None:
        self.settle_seconds = settle_seconds
        # Events arrive a little after the write: a file already `mtime_credit` seconds old by
        # its mtime has been still that long. Capped, so a share with a skewed clock cannot
        # shorten the wait by more.
        self.mtime_credit = mtime_credit
        self._since: dict[Path, tuple[tuple[int, int], float]] = {}
        self._renamed: dict[Path, tuple[int, int] | None] = {}

    def mark_renamed(self, paths: Iterable[Path]) -> None:
        """These files arrived by rename: complete at once, as long as they do not change."""
        for path in paths:
            self._renamed[path] = None

    def observe(self, files: Iterable[InboxFile], now: float, gone: Iterable[Path] = ()) -> None:
        """Record the files just looked at, and forget the ones that are `gone`."""
        wall_now = time.time_ns()
        for file in files:
            previous = self._since.get(file.path)
            if previous is None or previous[0] != file.signature:
                age = max(0.0, (wall_now - file.mtime_ns) / 1e9)
                self._since[file.path] = (file.signature, now - min(age, self.mtime_credit))
            if file.path in self._renamed and self._renamed[file.path] is None:
                self._renamed[file.path] = file.signature
        for path in gone:
            self._since.pop(path, None)
            self._renamed.pop(path, None)

    def keep_only(self, files: Iterable[InboxFile]) -> None:
        """After a full listing: forget every file it did not find."""
        present = {file.path for file in files}
        self._since = {p: v for p, v in self._since.items() if p in present}
        self._renamed = {p: v for p, v in self._renamed.items() if p in present}

    def ready_at(self, file: InboxFile) -> float:
        """The time (on the clock passed to `observe`) from which `file` counts as complete."""
        if self._renamed.get(file.path) == file.signature:
            return float("-inf")
        signature, since = self._since.get(file.path, (file.signature, float("inf")))
        return since + self.settle_seconds if signature == file.signature else float("inf")

    def complete_at(self, candidate: Candidate) -> float:
        return max((self.ready_at(file) for file in candidate.files), default=float("-inf"))


class Inbox:
    """The inbox as the daemon tracks it: which posts are due, in flight, or waiting to retry.

    A full listing happens at start and on every periodic look; between them, events say
    which names to look at again, so a busy inbox costs what changes, not what is there.
    """

    def __init__(
        self,
        folder: Path,
        settle_seconds: float,
        orphan_warning_seconds: float = ORPHAN_WARNING_SECONDS,
    ) -> None:
        self.folder = folder
        self.tracker = SettleTracker(settle_seconds, mtime_credit=MTIME_CREDIT_SECONDS)
        self.orphan_warning_seconds = orphan_warning_seconds  # a reload may change it
        self._table = FileTable(folder)
        self._in_flight: set[str] = set()
        self._retry_at: dict[str, tuple[object, float]] = {}
        self._for_a_platform: set[str] = set()  # posts that wait until a platform is enabled
        # Files that wait, since when: on the event loop's clock, and on the wall clock.
        self._waiting_since: dict[Path, tuple[float, float]] = {}
        self._reported: dict[Path, WaitingFile] = {}  # warned about: once is enough
        self._posts = 0  # complete posts present at the last look

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def in_flight_stems(self) -> frozenset[str]:
        return frozenset(self._in_flight)

    def waiting(self) -> InboxWaiting:
        """The files warned about that still wait, and the posts in the inbox, at the last look."""
        files = sorted(self._reported.values(), key=lambda file: (file.since, file.name))
        return InboxWaiting(waiting=tuple(files), posts=self._posts)

    def due(
        self, now: float, changed: Iterable[Path] | None = None, renamed_in: Iterable[Path] = ()
    ) -> tuple[list[Candidate], float]:
        """The complete posts to start now, and when the next one is due.

        `changed` names the paths events reported; None means list the whole folder (and
        raise OSError if it cannot). The posts returned count as in flight until `finished`.
        """
        self.tracker.mark_renamed(renamed_in)
        if changed is None:
            files = self._table.rescan()
            self.tracker.observe(files, now)
            self.tracker.keep_only(files)
            self._retry_at = {s: v for s, v in self._retry_at.items() if s in self._table.stems}
        else:
            names = {path.name for path in changed if path.parent == self.folder}
            seen, gone = self._table.update(names)
            self.tracker.observe(seen, now, gone)
        return self._collect_due(now)

    def _collect_due(self, now: float) -> tuple[list[Candidate], float]:
        due, next_at, waiting = [], float("inf"), set[Path]()
        self._posts = 0
        for stem in self._table.stems:
            candidate = self._table.candidate(stem)
            self._posts += candidate.is_complete
            if stem in self._in_flight:
                continue
            waits = waits_of(self._table, candidate)
            if waits:
                next_at = min(next_at, self._watch(waits, now, waiting))
                continue
            ready_at = max(self.tracker.complete_at(candidate), self._retry_time(candidate))
            if ready_at <= now:
                self._in_flight.add(candidate.stem)
                due.append(candidate)
            else:
                next_at = min(next_at, ready_at)
        self._watch(undecodable_waits(self._table), now, waiting)
        # A file paired or gone starts afresh: it is warned about again only if it waits again.
        self._waiting_since = {p: t for p, t in self._waiting_since.items() if p in waiting}
        self._reported = {p: f for p, f in self._reported.items() if p in waiting}
        return due, next_at

    def _watch(self, waits: list[Wait], now: float, waiting: set[Path]) -> float:
        """Warn once about each file that has waited long enough (an entry that is not a
        file, or a name that is not UTF-8, at once); returns when the next warning is due,
        so that the daemon looks again then."""
        next_at = float("inf")
        for wait in waits:
            waiting.add(wait.path)
            since, since_wall = self._waiting_since.setdefault(wait.path, (now, time.time()))
            if wait.path in self._reported:
                continue
            bound = 0.0 if wait.at_once else self.orphan_warning_seconds
            if now - since < bound:
                next_at = min(next_at, since + bound)
                continue
            self._reported[wait.path] = WaitingFile(wait.name, wait.reason, since_wall)
            waited = {} if wait.at_once else {"waited_seconds": round(now - since)}
            log.warning(wait.event, **wait.fields, **waited)
        return next_at

    def finished(
        self, candidate: Candidate, retry_at: float | None = None, *, for_a_platform: bool = False
    ) -> None:
        """The post is done; if it is still in the inbox, it is not due again before `retry_at`
        (`for_a_platform`: or before a reload enables a platform)."""
        self._in_flight.discard(candidate.stem)
        if retry_at is None:
            self._retry_at.pop(candidate.stem, None)
        else:
            self._retry_at[candidate.stem] = (candidate.signature, retry_at)
        if for_a_platform:
            self._for_a_platform.add(candidate.stem)
        else:
            self._for_a_platform.discard(candidate.stem)

    def platform_enabled(self) -> None:
        """A reload enabled a platform: the posts that waited for one are due at once."""
        for stem in self._for_a_platform:
            self._retry_at.pop(stem, None)
        self._for_a_platform.clear()

    def _retry_time(self, candidate: Candidate) -> float:
        signature, when = self._retry_at.get(candidate.stem, (None, float("-inf")))
        return when if signature == candidate.signature else float("-inf")
