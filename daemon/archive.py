"""Moving a post's files into the archive or `failed/`: never overwriting, never half-copied.

A move is a hard link plus an unlink on one file system, so an existing file is never
replaced. Across file systems (inbox and archive on different Docker volumes, where
`rename` fails with EXDEV) the file is copied under a hidden temporary name, flushed to
disk, and only then given its real name; the original is removed last. A crash at any
point leaves the original in the inbox and, at worst, a hidden temporary file behind.
"""

from __future__ import annotations

import errno
import filecmp
import glob
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from daemon.names import cut_to_bytes, name_max, utf8_length

_TEMPORARY_PREFIX = ".dropcast-tmp-"
RECORD_SUFFIX = ".result.json"
# The records of a post's earlier turns: `x.previous.result.json`, `x.previous-2.result.json`, ….
_PREVIOUS_RECORD = re.compile(r"\.previous(?:-([0-9]+))?\.result\.json")


@dataclass(frozen=True)
class Filing:
    """Where a post's files go: decided (and recorded in the ledger) before anything moves."""

    destination: Path
    stem: str
    moves: tuple[tuple[Path, Path], ...]

    @property
    def record_path(self) -> Path:
        return self.destination / f"{self.stem}{RECORD_SUFFIX}"

    @property
    def targets(self) -> list[Path]:
        """Every name this filing takes in its destination."""
        return [*(target for _, target in self.moves), self.record_path]

    def to_json(self) -> dict[str, Any]:
        return {
            "destination": str(self.destination),
            "stem": self.stem,
            "moves": [[str(source), str(target)] for source, target in self.moves],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Filing:
        moves = tuple((Path(source), Path(target)) for source, target in data["moves"])
        return cls(Path(data["destination"]), data["stem"], moves)


def plan_filing(
    files: Sequence[Path],
    stem: str,
    destination: Path,
    reserved: Collection[Path] = (),
    previous: Sequence[Path] = (),
) -> Filing:
    """Choose the names in `destination`: `stem`, or the next free `stem-1`, `stem-2`, ….

    All of a post's files (and its record) share the chosen stem, each keeping what follows
    the post's stem in its name (an album's `walk.2.jpg` becomes `walk-1.2.jpg`). A name is
    free if no file has it and it is not `reserved` (planned for another post, not yet moved).
    The `previous` records (newest first, as `previous_records` finds them) go along as
    `<stem>.previous.result.json`, `<stem>.previous-2.result.json`, ….
    """
    destination.mkdir(parents=True, exist_ok=True)
    tails = [_tail_of(file, stem) for file in files]
    tails += [_previous_tail(number) for number in range(1, len(previous) + 1)]
    files = [*files, *previous]
    new_stem = _free_stem(destination, stem, tails, reserved)
    moves = tuple(
        (file, destination / f"{new_stem}{tail}") for file, tail in zip(files, tails, strict=True)
    )
    return Filing(destination, new_stem, moves)


def previous_records(folder: Path, stem: str) -> list[Path]:
    """The records of post `stem`'s earlier turns in `folder`, newest first: a post moved back
    from `failed/` brings its `stem.result.json` along (and those of the turns before it)."""
    found = []
    for path in folder.glob(f"{glob.escape(stem)}.*"):
        tail = path.name[len(stem) :]
        match = _PREVIOUS_RECORD.fullmatch(tail)
        if (tail == RECORD_SUFFIX or match) and _is_plain_file(path):
            found.append((0 if match is None else int(match[1] or 1), path))
    return [path for _, path in sorted(found)]


def _is_plain_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _previous_tail(number: int) -> str:
    return f".previous{RECORD_SUFFIX}" if number == 1 else f".previous-{number}{RECORD_SUFFIX}"


def carry_out(filing: Filing, record: dict[str, Any]) -> Path:
    """Move the files and write the record; safe to repeat after a crash part-way through."""
    for source, target in filing.moves:
        if os.path.lexists(target):
            _finish_interrupted_move(source, target)
        elif os.path.lexists(source):
            _move(source, target)
    write_record(filing.record_path, record)
    _sync_directory(filing.destination)
    return filing.record_path


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete half-written copies left in `folder` by a dropcast process that no longer runs."""
    removed = []
    for path in folder.glob(f"{_TEMPORARY_PREFIX}*"):
        pid = path.name.removeprefix(_TEMPORARY_PREFIX).partition("-")[0]
        if pid.isdigit() and not _process_exists(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write (or, after `retry`, replace) a result record; readers see the old or the new one."""
    content = json.dumps(record, indent=2, ensure_ascii=False).encode()
    _write_through_temporary(path, content, lambda temporary: os.replace(temporary, path))


def _finish_interrupted_move(source: Path, target: Path) -> None:
    """`target` exists: if it is the whole of `source`, the move only lacks the unlink."""
    if not os.path.lexists(source):
        return
    if _same_content(source, target):
        source.unlink()
        return
    raise FileExistsError(errno.EEXIST, f"{target} exists and differs from {source}", str(target))


def _same_content(first: Path, second: Path) -> bool:
    if first.is_symlink() or second.is_symlink():
        return (
            first.is_symlink() and second.is_symlink() and os.readlink(first) == os.readlink(second)
        )
    return os.path.samefile(first, second) or filecmp.cmp(first, second, shallow=False)


def _fit_name_length(destination: Path, stem: str, longest_suffix: int) -> str:
    """Shorten `stem` so that `stem-NNNNN` plus the longest suffix fits the file system.

    Cut by bytes (NAME_MAX counts bytes), between whole characters: an emoji is never halved.
    """
    room = name_max(destination) - longest_suffix - len("-99999")
    cut = cut_to_bytes(stem, room) if room > 0 else ""
    if not cut:  # a file system with names too short for any stem and its record's suffix
        raise OSError(errno.ENAMETOOLONG, f"no name for {stem!r} fits here", str(destination))
    return cut


def _tail_of(file: Path, stem: str) -> str:
    """What follows the post's stem in the name, with its case (`A.JPG`: `.JPG`; the album
    `walk`'s `walk.2.jpg`: `.2.jpg`); else the file's own suffix."""
    if file.name.startswith(f"{stem}."):
        return file.name[len(stem) :]
    name, dot, suffix = file.name.rpartition(".")
    return f".{suffix}" if dot and name else ""


def _temporary_beside(target: Path) -> Path:
    """A short hidden name in `target`'s folder (short: the real name may be near NAME_MAX)."""
    return target.with_name(f"{_TEMPORARY_PREFIX}{os.getpid()}-{secrets.token_hex(4)}")


def _free_stem(
    destination: Path, stem: str, suffixes: list[str], reserved: Collection[Path]
) -> str:
    suffixes = [*suffixes, RECORD_SUFFIX]
    stem = _fit_name_length(destination, stem, max(utf8_length(s) for s in suffixes))
    for number in range(100_000):
        candidate = stem if number == 0 else f"{stem}-{number}"
        names = [destination / f"{candidate}{suffix}" for suffix in suffixes]
        if not any(name in reserved or os.path.lexists(name) for name in names):
            return candidate
    raise FileExistsError(f"no free name for {stem!r} in {destination}")


def _move(source: Path, target: Path) -> Path:
    """Move `source` to `target`, which must not exist; safe across file systems."""
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as error:
        if error.errno == errno.EEXIST:
            raise
        if error.errno == errno.EXDEV:
            _copy_into_place(source, target)
            # Two file systems: make the new name durable before the old one goes.
            _sync_directory(target.parent)
        else:  # no hard links here (some network shares): rename, having checked the name
            _rename_if_free(source, target)
            return target
    source.unlink()
    return target


def _rename_if_free(source: Path, target: Path) -> None:
    if target.exists() or target.is_symlink():
        raise FileExistsError(errno.EEXIST, "already exists", str(target))
    source.rename(target)


def _copy_into_place(source: Path, target: Path) -> None:
    if source.is_symlink():
        # A symbolic link is moved as a link: its target is never read.
        temporary = _temporary_beside(target)
        os.symlink(os.readlink(source), temporary)
        try:
            _link_or_fail(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return
    with source.open("rb") as reader:
        write_new_file(target, reader)


def write_new_file(target: Path, content: bytes | BinaryIO) -> None:
    """Write `content` (bytes or a binary file) to `target`, which must not exist yet.

    The data goes to a hidden temporary file first and is flushed to disk before it gets
    its real name, so `target` is either absent or complete.
    """
    _write_through_temporary(target, content, lambda temporary: _link_or_fail(temporary, target))


def _write_through_temporary(
    target: Path, content: bytes | BinaryIO, publish: Callable[[Path], None]
) -> None:
    """Write `content` to a hidden file beside `target`, flush it to disk, then `publish` it."""
    temporary = _temporary_beside(target)
    try:
        with temporary.open("xb") as writer:
            if isinstance(content, bytes):
                writer.write(content)
            else:
                shutil.copyfileobj(content, writer, 1024 * 1024)
            writer.flush()
            os.fsync(writer.fileno())
        publish(temporary)
    finally:
        temporary.unlink(missing_ok=True)


def _link_or_fail(temporary: Path, target: Path) -> None:
    try:
        os.link(temporary, target, follow_symlinks=False)
    except OSError as error:
        if error.errno in (errno.EEXIST, errno.EXDEV):
            raise
        _rename_if_free(temporary, target)
    else:
        temporary.unlink()


def _sync_directory(folder: Path) -> None:
    """Make the new names in `folder` durable (a rename lives in the directory)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # not every file system can sync a directory
    finally:
        os.close(descriptor)
