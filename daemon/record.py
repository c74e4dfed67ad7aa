"""The result record `<stem>.result.json` that goes beside every archived or failed post."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from daemon.publishers.base import PublishResult
from daemon.secrets import REDACTOR


class Outcome(StrEnum):
    PUBLISHED = "published"  # every platform accepted it
    PARTIAL = "partial"  # some did
    FAILED = "failed"  # none did, or it can never be published as it is

    @classmethod
    def of(cls, results: Mapping[str, PublishResult]) -> Outcome:
        accepted = sum(result.ok for result in results.values())
        if results and accepted == len(results):
            return cls.PUBLISHED
        return cls.PARTIAL if accepted else cls.FAILED


@dataclass(frozen=True)
class ResultRecord:
    post: str
    outcome: Outcome
    started_at: datetime
    finished_at: datetime
    platforms: Mapping[str, PublishResult]
    attempts: int = 1
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as DESIGN.md shapes it, with every secret value redacted."""
        return {
            "post": self.post,
            "outcome": str(self.outcome),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "attempts": self.attempts,
            "error": _redacted(self.error),
            "platforms": {name: _platform(result) for name, result in self.platforms.items()},
        }


def _platform(result: PublishResult) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "id": result.remote_id,
        "url": result.url,
        "attempts": result.attempts,
        "duration_ms": result.duration_ms,
        "error": _redacted(result.error),
    }


def _redacted(text: str | None) -> str | None:
    return None if text is None else REDACTOR.redact(text)
