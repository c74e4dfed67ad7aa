"""The result record `<stem>.result.json` that goes beside every archived or failed post."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from daemon.ledger import Delivery, DeliveryState, PostRow
from daemon.secrets import REDACTOR


class Outcome(StrEnum):
    PUBLISHED = "published"  # every platform accepted it
    PARTIAL = "partial"  # some did (or may have: an unknown answer counts here)
    FAILED = "failed"  # none did, or it can never be published as it is
    DUPLICATE = "duplicate"  # the same image and caption were published before: nothing sent

    @classmethod
    def of(cls, deliveries: Iterable[Delivery | None]) -> Outcome:
        states = [None if d is None else d.state for d in deliveries]
        sent = states.count(DeliveryState.SENT)
        if states and sent == len(states):
            return cls.PUBLISHED
        # `pending` here means its answer could not be recorded: it may well have been sent.
        if sent or DeliveryState.UNKNOWN in states or DeliveryState.PENDING in states:
            return cls.PARTIAL
        return cls.FAILED


def build_record(
    row: PostRow, deliveries: Mapping[str, Delivery], earlier: PostRow | None = None
) -> dict[str, Any]:
    """The record as DESIGN.md shapes it, from the ledger, with every secret value redacted."""
    record: dict[str, Any] = {
        "post": row.stem,
        "outcome": row.outcome,
        "started_at": _iso(row.created_at),
        "finished_at": datetime.now(UTC).isoformat(),
        "attempts": row.attempts,
        "error": _redacted(row.error),
        "platforms": {name: _platform(delivery) for name, delivery in deliveries.items()},
    }
    if earlier is not None:
        record["duplicate_of"] = {
            "post": earlier.stem,
            "record": None if earlier.record_path is None else str(earlier.record_path),
        }
    return record


def _platform(delivery: Delivery) -> dict[str, Any]:
    return {
        "ok": delivery.state is DeliveryState.SENT,
        "state": str(delivery.state),
        "id": delivery.remote_id,
        "url": delivery.url,
        "attempts": delivery.attempts,
        "duration_ms": delivery.duration_ms,
        "error": _redacted(delivery.error),
        "notes": [REDACTOR.redact(note) for note in delivery.notes],
        "to_do": to_do(delivery),
        "destinations": {
            d.name: {"state": str(d.state), "id": d.remote_id, "error": _redacted(d.error)}
            for d in delivery.destinations
        },
    }


def to_do(delivery: Delivery) -> str | None:
    """What the owner should do about a delivery, if anything (for the record and `status`)."""
    if delivery.state in (DeliveryState.UNKNOWN, DeliveryState.PENDING):
        return f"unknown: check {delivery.platform}, then `dropcast retry`"
    return None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def _redacted(text: str | None) -> str | None:
    return None if text is None else REDACTOR.redact(text)
