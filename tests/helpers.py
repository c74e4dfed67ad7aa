"""Shortcuts the tests take through the daemon's own code, which the daemon itself never needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.archive import carry_out, plan_filing
from daemon.inbox import Candidate, FileTable
from daemon.post import check_image_bytes, decode_caption


@dataclass(frozen=True)
class InboxScan:
    """What one full listing of the inbox found, through the daemon's own `FileTable`."""

    table: FileTable
    candidates: dict[str, Candidate]
    unrecognised: list[str]

    def being_written(self, candidate: Candidate) -> bool:
        return bool(self.table.being_written(candidate))


def scan_inbox(inbox: Path) -> InboxScan:
    """List the inbox in full and group its files by stem, as the daemon's rescan does."""
    table = FileTable(inbox)
    table.rescan()
    candidates = {stem: table.candidate(stem) for stem in table.stems}
    return InboxScan(table, candidates, sorted(table.unrecognised))


def file_post(
    files: Sequence[Path], stem: str, record: dict[str, Any], destination: Path
) -> list[Path]:
    """Plan and carry out a filing in one go; returns the new paths, record last."""
    filing = plan_filing(files, stem, destination)
    carry_out(filing, record)
    return [target for _, target in filing.moves] + [filing.record_path]


def check_image(path: Path) -> None:
    """Raise `PostRejectedError` unless `path` is a complete image of a format we publish."""
    check_image_bytes(path.name, path.read_bytes())


def read_caption_text(path: Path) -> str:
    """The caption file as text, as `read_post` decodes it."""
    return decode_caption(path.name, path.read_bytes())
