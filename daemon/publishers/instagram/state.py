"""What the Instagram publisher remembers across restarts: a pause, and the posts it made.

One JSON file per account, `state/instagram/<username>.limits.json`, replaced atomically,
so a crash never leaves half a file and a new publisher instance (a restart, a config
reload, `dropcast check`) sees what the last one wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from daemon.private_file import write_private_file

log = structlog.get_logger("dropcast.instagram")

DAY = timedelta(hours=24)


@dataclass
class Limits:
    """The pause in force (if any), the last upload attempt, and the posts of the last 24 hours."""

    paused_until: datetime | None = None
    pause_reason: str = ""
    last_upload_at: datetime | None = None
    published_at: list[datetime] = field(default_factory=list)

    def paused(self, now: datetime) -> bool:
        return self.paused_until is not None and now < self.paused_until

    def pause(self, until: datetime, reason: str) -> None:
        self.paused_until, self.pause_reason = until, reason

    def lift_pause(self) -> None:
        self.paused_until, self.pause_reason = None, ""

    def posts_in_last_day(self, now: datetime) -> list[datetime]:
        return [moment for moment in self.published_at if now - moment < DAY]

    def pause_refusal(self, now: datetime) -> str | None:
        """Why no request at all may be made at `now` (a pause), or None."""
        if self.paused_until is not None and now < self.paused_until:
            until = self.paused_until.astimezone().isoformat(timespec="minutes")
            return f"Instagram is paused until {until}: {self.pause_reason}"
        return None

    def refusal(self, now: datetime, *, min_interval: float, max_per_day: int) -> str | None:
        """Why no post may be made at `now`, or None if one may."""
        paused = self.pause_refusal(now)
        if paused is not None:
            return paused
        if self.last_upload_at is not None:
            wait = min_interval - (now - self.last_upload_at).total_seconds()
            if wait > 0:
                return (
                    f"the last Instagram post was less than min_interval_seconds "
                    f"({min_interval:g} s) ago; it may go in {wait:.0f} s, and dropcast tries again"
                )
        recent = self.posts_in_last_day(now)
        if len(recent) >= max_per_day:
            opens = (min(recent) + DAY).astimezone().isoformat(timespec="minutes")
            return (
                f"max_posts_per_day ({max_per_day}) reached: {len(recent)} posts in the last "
                f"24 hours; the next may go at {opens}, and dropcast tries again"
            )
        return None

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "paused_until": _iso(self.paused_until),
            "pause_reason": self.pause_reason,
            "last_upload_at": _iso(self.last_upload_at),
            "published_at": [_iso(moment) for moment in self.posts_in_last_day(now)],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Limits:
        return cls(
            paused_until=_moment(data.get("paused_until")),
            pause_reason=str(data.get("pause_reason") or ""),
            last_upload_at=_moment(data.get("last_upload_at")),
            published_at=[m for m in map(_moment, data.get("published_at") or []) if m],
        )


class LimitsFile:
    """Reads and writes one account's `Limits` (blocking I/O: call it from a worker thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Limits:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return Limits.from_json(data)
        except FileNotFoundError:
            return Limits()
        except (OSError, ValueError, TypeError, AttributeError) as error:
            log.warning(
                "instagram.limits_reset",
                path=str(self.path),
                error=f"{type(error).__name__}: {error}",
                consequence="starting with no pause and no posts counted",
            )
            return Limits()

    def save(self, limits: Limits, now: datetime) -> None:
        write_private_file(self.path, json.dumps(limits.to_json(now), indent=1))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else None
