"""The watchfiles loop on the inbox (and the config file's folder, so edits reload at once).

File-system events are only triggers: the inbox is listed again after each batch, so a
missed or duplicated event changes nothing. From the events themselves we learn one
thing a listing cannot tell: which files arrived by a rename from a temporary name.

watchfiles stops for good at an event for a name that is not UTF-8 (every later `watch`
raises "Unable to decode path"): the watch is then made afresh, and the inbox listed in full.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import structlog
from watchfiles import BaseFilter, Change, awatch
from watchfiles.main import FileChange

from daemon.inbox import is_ignored

log = structlog.get_logger("dropcast.watcher")


class InboxFilter(BaseFilter):
    """Keeps events for the inbox's own files and the config file; drops everything else.

    The deletion of an ignored (temporary) file is kept: beside an added file in the same
    batch it tells that the added file was renamed into place, complete.
    """

    def __init__(self, inbox: Path, config_file: Path) -> None:
        super().__init__()
        self.inbox = inbox
        self.config_file = config_file

    def __call__(self, change: Change, path: str) -> bool:
        where = Path(path)
        if where == self.config_file:
            return True
        if where.parent != self.inbox:
            return False
        return change == Change.deleted or not is_ignored(where.name)


class WatchError(Exception):
    """Raised when watchfiles fails, at the start or for good while watching (such as
    "Unable to decode path"): the watch is then made afresh."""


@dataclass(frozen=True)
class Batch:
    """One batch of file-system events."""

    paths: frozenset[Path] = frozenset()
    renamed_in: frozenset[Path] = field(default_factory=frozenset)


def renamed_in(changes: Iterable[tuple[Change, str]]) -> frozenset[Path]:
    """Files added in the same batch as the deletion of a temporary copy of the same name.

    `x.jpg.part`, `x.jpg.tmp`, `.x.jpg.Ab12Cd` (rsync), `.syncthing.x.jpg.tmp` and `~$x.jpg`
    are temporary copies of `x.jpg`; a temporary file named after another file is not.
    """
    changes = list(changes)
    deleted = [
        Path(path).name
        for change, path in changes
        if change == Change.deleted and is_ignored(Path(path).name)
    ]
    found = set()
    for change, path in changes:
        name = Path(path).name
        if change != Change.added or is_ignored(name):
            continue
        if any(_is_temporary_copy(temporary, name) for temporary in deleted):
            found.add(Path(path))
    return frozenset(found)


def _is_temporary_copy(temporary: str, name: str) -> bool:
    """`x.jpg.part`, `.x.jpg.Ab12`, `.syncthing.x.jpg.tmp`, `~$x.jpg` are copies of `x.jpg`."""
    for prefix in ("", ".", ".syncthing.", "~$"):
        if temporary.startswith(prefix + name):
            rest = temporary[len(prefix) + len(name) :]
            if rest[:1] in ("", ".", "~") and (prefix or rest):
                return True
    return False


def choose_polling(mode: str, inbox: Path) -> bool:
    """Whether to poll: always, never, or (auto) when the inbox is on a network file system."""
    if mode in ("always", "never"):
        return mode == "always"
    file_system = _file_system_type(inbox)
    return file_system in _NO_EVENTS_FILE_SYSTEMS or file_system.startswith("fuse.")


# File systems whose changes made on another machine raise no inotify events here.
_NO_EVENTS_FILE_SYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse", "virtiofs"}
)


def _file_system_type(path: Path) -> str:
    """The type of the file system holding `path`, from /proc/mounts ('' where unknown)."""
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    resolved, best, best_type = path.resolve(), "", ""
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        if (resolved == Path(mount_point) or Path(mount_point) in resolved.parents) and len(
            mount_point
        ) > len(best):
            best, best_type = mount_point, fields[2]
    return best_type


# How often watchfiles' thread looks for new events (ms). Each look wakes the process (about
# 45 µs of CPU here, 0.045 % of a core at 10 looks a second: most of an idle daemon's cost);
# a post's settle time counts from the file's mtime (see inbox.py), so a slower look does not
# make posts later, but a renamed-in post waits one to two looks.
STEP_MS = 100
DEBOUNCE_MS = 1_600  # at most this long gathering one batch while events keep coming
POLL_DELAY_MS = 500  # between two listings when polling (network shares)
RESTART_PAUSE_SECONDS = 1.0  # between a failed watch and the next


async def watch_inbox(
    inbox: Path, config_file: Path, *, force_polling: bool
) -> AsyncGenerator[Batch, None]:
    """Yield a `Batch` for each group of events, until cancelled.

    watchfiles' thread waits for events with no time-out (a time-out every second cost an
    idle daemon as much again as the looks themselves): it comes back to the event loop only
    with events, or within one step of a cancellation. If watchfiles fails, the watch starts
    again and an empty `Batch` asks for a full listing. A watch is made when the generator is
    resumed, before it awaits anything: a look at the inbox made by another task (the service
    hands each batch on through a stream) comes after it, so no file falls between the two.
    """
    keep = InboxFilter(inbox, config_file)
    paths = sorted({inbox, config_file.parent})
    reported: set[str] = set()
    restarted = False
    while True:
        stop = anyio.Event()
        async with aclosing(_awatch(paths, keep, stop, force_polling)) as changes:
            if restarted:  # the events lost with the old watch: list everything
                yield Batch()
            try:
                while (found := await _next_changes(changes, stop)) is not None:
                    yield Batch(
                        paths=frozenset(Path(p) for _, p in found), renamed_in=renamed_in(found)
                    )
            except WatchError as error:
                _report_restart(error, reported)
            else:  # stopped, which only a cancellation does: raise it here, as before
                await anyio.lowlevel.checkpoint()
                return
        restarted = True
        # A name that cannot be decoded and keeps changing (still being copied) would
        # otherwise restart the watch and list the inbox at every step.
        await anyio.sleep(RESTART_PAUSE_SECONDS)


def _awatch(
    paths: list[Path], keep: InboxFilter, stop: anyio.Event, force_polling: bool
) -> AsyncGenerator[set[FileChange], None]:
    """watchfiles' watch on the folders (not their subfolders), waiting with no time-out."""
    return awatch(
        *paths,
        watch_filter=keep,
        debounce=DEBOUNCE_MS,
        step=STEP_MS,
        stop_event=stop,
        rust_timeout=0,  # no time-out: `stop` ends the wait instead
        debug=False,
        force_polling=force_polling,
        poll_delay_ms=POLL_DELAY_MS,
        recursive=False,
        ignore_permission_denied=False,
    )


async def _next_changes(
    changes: AsyncIterator[set[FileChange]], stop: anyio.Event
) -> set[FileChange] | None:
    """The next group of kept events; None once a cancellation has stopped the watch.

    The thread cannot be interrupted and `awatch` waits for it even when cancelled, so a
    cancellation sets `stop`, which the thread looks at after each step: one call of
    `is_set`, made while it holds the GIL for the step anyway. Nothing is awaited before
    `anext`: a new watch is in place before the caller's next look (a task started beside
    it runs later; anyio cancels a task only once it has started). An error is raised after
    the task group, so that it is not wrapped in one more group.
    """
    failed: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(_set_when_cancelled, stop, group.cancel_scope)
        try:
            found = await anext(changes, None)
        except Exception as error:
            found, failed = None, _unwrapped(error)
        group.cancel_scope.cancel()
    # watchfiles' own failures are RuntimeErrors (WatchfilesRustInternalError is one).
    if isinstance(failed, RuntimeError):
        raise WatchError(str(failed)) from failed
    if failed is not None:
        raise failed
    return found


def _unwrapped(error: Exception) -> Exception:
    """The error itself, not the group that `awatch`'s own task group wraps it in."""
    while isinstance(error, ExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _report_restart(error: WatchError, reported: set[str]) -> None:
    """Once per distinct error: the inbox's own warning names an undecodable file already."""
    message = str(error)
    if message in reported:
        return
    reported.add(message)
    log.info(
        "watcher.restarted",
        error=message,
        detail="watchfiles stopped reporting events; watching again and listing the inbox in full",
    )


async def _set_when_cancelled(stop: anyio.Event, own: anyio.CancelScope) -> None:
    """Set `stop` when cancelled from outside, not when `_next_changes` is done with it."""
    try:
        await anyio.sleep_forever()
    finally:
        if not own.cancel_called:
            stop.set()
