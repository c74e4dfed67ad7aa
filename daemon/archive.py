"""Moving a post's files into the archive or `failed/`: never overwriting, never half-copied.

A move is a hard link plus an unlink on one file system, so an existing file is never
replaced. Across file systems (inbox and archive on different Docker volumes, where
`rename` fails with EXDEV) the file is copied under a hidden temporary name, flushed to
disk, and only then given its real name; the original is removed last. A crash at any
point leaves the original in the inbox and, at worst, a hidden temporary file behind.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_TEMPORARY_PREFIX = ".dropcast-tmp-"


def file_post(
    files: Sequence[Path], stem: str, record: dict[str, Any], destination: Path
) -> list[Path]:
    """Move `files` (all named `stem.*`) and write `<stem>.result.json` into `destination`.

    If any of those names is taken there, the next free `stem-1`, `stem-2`, … is used for
    all of them, so a post's files keep one stem. Returns the new paths, record last.
    """
    destination.mkdir(parents=True, exist_ok=True)
    new_stem = _free_stem(destination, stem, [_suffix_of(f) for f in files])
    moved = [_move(file, destination / f"{new_stem}{_suffix_of(file)}") for file in files]
    record_path = destination / f"{new_stem}.result.json"
    write_new_file(record_path, json.dumps(record, indent=2, ensure_ascii=False).encode())
    _sync_directory(destination)
    return [*moved, record_path]


def _fit_name_length(destination: Path, stem: str, longest_suffix: int) -> str:
    """Shorten `stem` so that `stem-NNNNN` plus the longest suffix fits the file system."""
    try:
        name_max = os.pathconf(destination, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    room = name_max - longest_suffix - len("-99999")
    encoded = stem.encode()
    if len(encoded) <= room:
        return stem
    return encoded[:room].decode("utf-8", errors="ignore")


def _suffix_of(file: Path) -> str:
    """The original suffix with its case (`A.JPG` keeps `.JPG`)."""
    stem, dot, suffix = file.name.rpartition(".")
    return f".{suffix}" if dot and stem else ""


def _temporary_beside(target: Path) -> Path:
    """A short hidden name in `target`'s folder (short: the real name may be near NAME_MAX)."""
    return target.with_name(f"{_TEMPORARY_PREFIX}{os.getpid()}-{secrets.token_hex(4)}")


def _free_stem(destination: Path, stem: str, suffixes: list[str]) -> str:
    suffixes = [*suffixes, ".result.json"]
    stem = _fit_name_length(destination, stem, max(len(s.encode()) for s in suffixes))
    for number in range(100_000):
        candidate = stem if number == 0 else f"{stem}-{number}"
        if not any(os.path.lexists(destination / f"{candidate}{s}") for s in suffixes):
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


def write_new_file(target: Path, content: bytes | Any) -> None:
    """Write `content` (bytes or a binary file) to `target`, which must not exist yet.

    The data goes to a hidden temporary file first and is flushed to disk before it gets
    its real name, so `target` is either absent or complete.
    """
    temporary = _temporary_beside(target)
    try:
        with temporary.open("xb") as writer:
            if isinstance(content, bytes):
                writer.write(content)
            else:
                shutil.copyfileobj(content, writer, 1024 * 1024)
            writer.flush()
            os.fsync(writer.fileno())
        _link_or_fail(temporary, target)
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
