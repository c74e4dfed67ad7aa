"""A real ledger for tests that drive a publisher by hand: its progress survives the publisher."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from daemon.ledger import AsyncLedger, Ledger, LedgerProgress
from daemon.post import Post


@contextmanager
def ledger_progress(state_dir: Path) -> Iterator[LedgerProgress]:
    """Per-destination progress in a ledger under `state_dir`, as the daemon keeps it."""
    ledger = Ledger(state_dir / "dropcast.db")
    try:
        yield LedgerProgress(AsyncLedger(ledger))
    finally:
        ledger.close()


def admitted(progress: LedgerProgress, post: Post) -> Post:
    """`post` as the daemon hands it to publishers: with its row in the ledger."""
    assert progress.ledger is not None
    row = progress.ledger.ledger.open_post(post.identity, post.stem, list(post.files))
    return replace(post, ledger_id=row.id)
