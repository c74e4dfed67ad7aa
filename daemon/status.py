"""`dropcast status`: the recent posts and each platform's state, as a table or as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from daemon.ledger import Delivery, DeliveryState, PostRow
from daemon.record import to_do

_NEEDS_ATTENTION = {DeliveryState.FAILED, DeliveryState.UNKNOWN}


def needs_attention(row: PostRow, deliveries: Mapping[str, Delivery]) -> bool:
    """Failed, partial, waiting to retry, or with a platform whose answer is unknown."""
    if row.outcome in ("failed", "partial"):
        return True
    if row.outcome is None and row.attempts > 0:
        return True
    return any(d.state in _NEEDS_ATTENTION for d in deliveries.values())


def describe(row: PostRow, deliveries: Mapping[str, Delivery]) -> dict[str, Any]:
    """One post for `status --json`."""
    return {
        "post": row.stem,
        "seen_at": _local(row.created_at),
        "outcome": row.outcome or "in inbox",
        "attempts": row.attempts,
        "next_attempt_at": None if row.next_attempt_at is None else _local(row.next_attempt_at),
        "error": row.error,
        "record": None if row.record_path is None else str(row.record_path),
        "platforms": {
            name: {
                "state": str(d.state),
                "id": d.remote_id,
                "url": d.url,
                "error": d.error,
                "to_do": to_do(d),
            }
            for name, d in deliveries.items()
        },
    }


def render_table(posts: list[dict[str, Any]]) -> str:
    """A plain-text table, newest first, one post a line."""
    if not posts:
        return "no posts yet"
    rows = [("SEEN", "POST", "OUTCOME", "PLATFORMS")]
    for post in posts:
        states = " ".join(f"{name}:{p['state']}" for name, p in post["platforms"].items())
        outcome = post["outcome"]
        if post["next_attempt_at"]:
            outcome += f" (attempt {post['attempts']}, next {post['next_attempt_at'][11:16]})"
        rows.append((post["seen_at"][:16].replace("T", " "), post["post"], outcome, states or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)), row[3]]
        )
        for row in rows
    ]
    return "\n".join(lines + _to_do_lines(posts))


def _to_do_lines(posts: list[dict[str, Any]]) -> list[str]:
    """Below the table: what to do about each platform whose answer is unknown."""
    return [
        f"{post['post']}: {platform['to_do']}"
        for post in posts
        for platform in post["platforms"].values()
        if platform["to_do"]
    ]


def _local(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")
