"""Files in the inbox that wait for something, and why, in one set of rules for the daemon's
warnings, `dropcast status` and the owner's page.

A file waits when its post is not complete: an image without its caption (or the other way
round), an album with a gap, an entry that is not a file, a name that is not UTF-8, or a
complete post held back by a temporary file. The reason names what it waits for and the near
misses: a caption that would pair if it were named right (`beach.jpg.txt` for `beach.jpg`,
`cliff.txt` for `Cliff.jpg`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from daemon.events import InboxWaiting, WaitingFile
from daemon.pairing import (
    CAPTION_SUFFIX,
    IMAGE_SUFFIXES,
    UNSUPPORTED_IMAGE_SUFFIXES,
    Candidate,
    FileTable,
    InboxFile,
    not_a_file,
    shown_name,
    split_name,
)


@dataclass(frozen=True)
class Wait:
    """One file that is not on its way: why, and the warning that tells the owner."""

    path: Path
    event: str  # the warning's event name
    reason: str  # one sentence, for `status` and the page
    fields: Mapping[str, object] = field(default_factory=dict)  # the warning's own fields
    at_once: bool = False  # no wait can make it right: warned at the first look

    @property
    def name(self) -> str:
        return shown_name(self.path.name)


def waits_of(table: FileTable, candidate: Candidate) -> list[Wait]:
    """What `candidate`'s files wait for; nothing for a post that is on its way."""
    if not candidate.is_complete:
        return [*_not_files(candidate), *_alone(table, candidate)]
    writing = table.being_written(candidate)
    return [_held_back(candidate, writing)] if writing else []


def undecodable_waits(table: FileTable) -> list[Wait]:
    """Each file whose name is not UTF-8: it can be neither recorded nor moved."""
    waits = []
    for name in sorted(table.undecodable):
        shown = shown_name(name)
        reason = (
            f"{shown}: the file name is not valid UTF-8, so dropcast cannot record it and never "
            "reads or moves this file; rename it to a UTF-8 name"
        )
        fields = {"file": shown, "reason": reason}
        waits.append(Wait(table.folder / name, "inbox.undecodable_name", reason, fields, True))
    return waits


def all_waits(table: FileTable) -> Iterator[tuple[Candidate, list[Wait]]]:
    """Every post (and would-be post) in `table`, with what its files wait for."""
    for stem in table.stems:
        candidate = table.candidate(stem)
        yield candidate, waits_of(table, candidate)


def _not_files(candidate: Candidate) -> list[Wait]:
    return [
        Wait(entry.path, "inbox.not_a_file", not_a_file(entry), _fields(entry), at_once=True)
        for entry in candidate.odd
    ]


def _fields(entry: InboxFile) -> dict[str, object]:
    return {"file": entry.path.name, "reason": not_a_file(entry)}


def _alone(table: FileTable, candidate: Candidate) -> list[Wait]:
    """Each file without its partner; an album with a gap has one, on its caption."""
    misses = near_misses(table, candidate)
    waits = []
    for file in candidate.captions if candidate.is_pair else candidate.files:
        wanted = partner_wanted(candidate, file)
        reason = "; ".join([f"waits for {wanted}", *misses])
        fields = {"file": file.path.name, "waits_for": wanted, "near_misses": misses}
        waits.append(Wait(file.path, "inbox.orphan", reason, fields))
    return waits


def _held_back(candidate: Candidate, writing: list[str]) -> Wait:
    """A complete post whose temporaries never finish (a download abandoned half-way)."""
    key = candidate.files[-1]  # the caption: files are its images, then it
    reason = (
        f"{candidate.stem} waits until {', '.join(writing)} is complete; delete it "
        "if that copy or download was abandoned"
    )
    fields = {"file": key.path.name, "temporaries": writing, "reason": reason}
    return Wait(key.path, "inbox.waiting_for_temporary", reason, fields)


def partner_wanted(candidate: Candidate, file: InboxFile) -> str:
    """What a file of an incomplete post waits for, in words: `its caption x.txt`."""
    stem = candidate.stem
    missing = candidate.missing_number
    if candidate.is_pair and missing is not None:
        return (
            f"the album's image {stem}.{missing}.jpg (or .jpeg, .png, .webp): "
            "an album's images are numbered 1, 2, 3, … without a gap"
        )
    if split_name(file.path.name)[1] == CAPTION_SUFFIX:
        return f"an image {stem}.jpg, {stem}.jpeg, {stem}.png or {stem}.webp"
    if file in candidate.album_images:
        own = f"{split_name(file.path.name)[0]}{CAPTION_SUFFIX}"
        return f"its album's caption {stem}{CAPTION_SUFFIX}, or {own} for this image alone"
    return f"its caption {stem}{CAPTION_SUFFIX}"


# Near misses: a caption and an image alone that would pair if the caption were named right.


def near_misses(table: FileTable, candidate: Candidate) -> list[str]:
    """What to rename so that `candidate` pairs: `rename beach.jpg.txt to beach.txt`."""
    images_only = bool(candidate.post_images) and not candidate.captions
    captions_only = bool(candidate.captions) and not candidate.post_images
    if not (images_only or captions_only):
        return []
    hints = []
    for stem in _stems_to_look_at(table, candidate):
        other = table.candidate(stem)
        if stem == candidate.stem or other.is_pair:
            continue
        image_side, caption_side = (candidate, other) if images_only else (other, candidate)
        hints += _rename_hints(image_side, caption_side)
    return list(dict.fromkeys(hints))


def _stems_to_look_at(table: FileTable, candidate: Candidate) -> list[str]:
    """The stems that could be a near miss: the same but for case, or a whole image name."""
    keys = {candidate.stem.casefold()}
    if candidate.captions:  # `beach.jpg.txt`: the image `beach.jpg` has the stem `beach`
        base, suffix = split_name(candidate.stem)
        if suffix in IMAGE_SUFFIXES or suffix in UNSUPPORTED_IMAGE_SUFFIXES:
            keys.add(base.casefold())
    keys.update(image.path.name.casefold() for image in candidate.post_images)
    return [stem for key in sorted(keys) for stem in table.stems_like(key)]


def _rename_hints(image_side: Candidate, caption_side: Candidate) -> list[str]:
    wanted = f"{image_side.stem}{CAPTION_SUFFIX}"
    folded = caption_side.stem.casefold()
    hints = []
    for caption in caption_side.captions:
        for image in image_side.post_images:
            name = caption.path.name
            if folded == image.path.name.casefold():
                hints.append(
                    f"{name} is named after the whole image name {image.path.name}: "
                    f"rename {name} to {wanted}"
                )
            elif folded == image_side.stem.casefold():
                hints.append(
                    f"{name} and {image.path.name} differ only in case (names must match "
                    f"exactly): rename {name} to {wanted}"
                )
    return hints


# For `dropcast status`, which is not the daemon: the same rules on one listing of the folder.


def scan_waiting(folder: Path, bound: float, now: float | None = None) -> InboxWaiting:
    """The files in `folder` that have waited at least `bound` seconds (by their mtime), and
    the number of posts there; nothing if the folder cannot be listed."""
    now = time.time() if now is None else now
    table = FileTable(folder)
    try:
        table.rescan()
    except OSError:
        return InboxWaiting()
    waiting, posts = [], 0
    for candidate, waits in all_waits(table):
        posts += candidate.is_complete
        waiting += _old_enough(waits, bound, now)
    waiting += _old_enough(undecodable_waits(table), bound, now)
    ordered = tuple(sorted(waiting, key=lambda file: (file.since, file.name)))
    return InboxWaiting(waiting=ordered, posts=posts)


def _old_enough(waits: list[Wait], bound: float, now: float) -> list[WaitingFile]:
    found = []
    for wait in waits:
        try:
            since = os.lstat(wait.path).st_mtime
        except OSError:
            continue  # gone since the listing
        if wait.at_once or now - since >= bound:
            found.append(WaitingFile(wait.name, wait.reason, since))
    return found
