"""`dropcast status`: the files waiting in the inbox, the recent posts and each platform's
state, as a table or as JSON.

A post is named as the archive names it (`party-1` beside an earlier `party`), so that two
posts dropped under one name are told apart; `--failed` shows why each one needs attention.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import PurePath
from typing import Any

import regex

from daemon.archive import RECORD_SUFFIX
from daemon.events import WaitingFile
from daemon.ledger import Delivery, DeliveryState, PostRow
from daemon.record import to_do
from daemon.secrets import REDACTOR

_NEEDS_ATTENTION = {DeliveryState.FAILED, DeliveryState.UNKNOWN}
_GRAPHEME = regex.compile(r"\X")
_WIDE = frozenset({"W", "F"})  # East Asian Wide and Fullwidth: two columns in a terminal
_EMOJI_PRESENTATION = "\ufe0f"
_REGIONAL_INDICATORS = frozenset(map(chr, range(0x1F1E6, 0x1F200)))


def needs_attention(row: PostRow, deliveries: Mapping[str, Delivery]) -> bool:
    """Failed, partial, waiting to retry, or with a platform whose answer is unknown."""
    if row.outcome in ("failed", "partial"):
        return True
    if row.outcome is None and row.attempts > 0:
        return True
    return any(d.state in _NEEDS_ATTENTION for d in deliveries.values())


def archived_name(row: PostRow) -> str | None:
    """The name the archive (or `failed/`) gave the post: `party-1` for a second `party`."""
    if row.record_path is not None:
        return PurePath(row.record_path).name.removesuffix(RECORD_SUFFIX)
    if row.filing is not None:
        return str(row.filing["stem"])
    return None


def describe(row: PostRow, deliveries: Mapping[str, Delivery]) -> dict[str, Any]:
    """One post for `status --json`."""
    return {
        "post": row.stem,
        "archived_as": archived_name(row),
        "seen_at": _local(row.created_at),
        "outcome": row.outcome or "in inbox",
        "attempts": row.attempts,
        "next_attempt_at": None if row.next_attempt_at is None else _local(row.next_attempt_at),
        "error": _redacted(row.error),
        "record": None if row.record_path is None else str(row.record_path),
        "platforms": {
            name: {
                "state": str(d.state),
                "id": d.remote_id,
                "url": d.url,
                "error": _redacted(d.error),
                "to_do": to_do(d),
            }
            for name, d in deliveries.items()
        },
    }


def describe_waiting(file: WaitingFile) -> dict[str, Any]:
    """One file waiting in the inbox for `status --json`, shaped like a post."""
    return {
        "post": file.name,
        "archived_as": None,
        "seen_at": _local(file.since),
        "outcome": "waiting",
        "attempts": 0,
        "next_attempt_at": None,
        "error": file.reason,
        "record": None,
        "platforms": {},
    }


def render_table(posts: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table, newest first, one post a line; below it, why each post that went
    wrong did, and what to do."""
    if not posts:
        return "no posts yet"
    rows = [("SEEN", "POST", "OUTCOME", "PLATFORMS")]
    for post in posts:
        states = " ".join(f"{name}:{p['state']}" for name, p in post["platforms"].items())
        outcome = post["outcome"]
        if post["next_attempt_at"]:
            outcome += f" (attempt {post['attempts']}, next {post['next_attempt_at'][11:16]})"
        rows.append((post["seen_at"][:16].replace("T", " "), shown(post), outcome, states or "-"))
    widths = [max(display_width(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(
            [*(pad(cell, width) for cell, width in zip(row[:3], widths, strict=True)), row[3]]
        )
        for row in rows
    ]
    return "\n".join(lines + _reason_lines(posts))


def shown(post: Mapping[str, Any]) -> str:
    """The post's name in the table: the archive's, which tells same-named posts apart."""
    return str(post.get("archived_as") or post["post"])


def _reason_lines(posts: Sequence[Mapping[str, Any]]) -> list[str]:
    """Below the table: why a post waits or failed, each platform's refusal, what to do."""
    lines = []
    for post in posts:
        name = shown(post)
        if post["error"]:
            lines.append(f"{name}: {post['error']}")
        for platform, found in post["platforms"].items():
            if found["state"] in _NEEDS_ATTENTION and found["error"]:
                lines.append(f"{name}: {platform} {found['state']}: {found['error']}")
            if found["to_do"]:
                lines.append(f"{name}: {found['to_do']}")
    return lines


def display_width(text: str) -> int:
    """The columns `text` takes in a terminal: a wide emoji or a CJK character takes two,
    a combining accent none (grapheme by grapheme, as terminals draw them)."""
    return sum(_grapheme_width(grapheme) for grapheme in _GRAPHEME.findall(text))


def _grapheme_width(grapheme: str) -> int:
    first = grapheme[0]
    if _EMOJI_PRESENTATION in grapheme or unicodedata.east_asian_width(first) in _WIDE:
        return 2
    if first in _REGIONAL_INDICATORS:  # a flag: two letters drawn as one wide glyph
        return 2
    return 0 if unicodedata.category(first) in ("Mn", "Me", "Cf", "Cc") else 1


def pad(text: str, width: int) -> str:
    """`text` followed by spaces up to `width` columns (`str.ljust` counts characters)."""
    return text + " " * max(0, width - display_width(text))


def _redacted(text: str | None) -> str | None:
    return None if text is None else REDACTOR.redact(text)


def _local(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")
