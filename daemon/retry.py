"""Retrying a platform call: exponential backoff with full jitter, or the wait a server asked for.

Publishers use this for transient failures (rate limits, 5xx, dropped connections); the
post-level retries (a post nobody accepted) are the daemon's business, not this module's.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import structlog

from daemon.secrets import REDACTOR

log = structlog.get_logger("dropcast.retry")

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry one platform call."""

    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 60.0

    def backoff(self, retry: int) -> float:
        """Full jitter: a random wait up to base_delay * 2**(retry-1), capped at max_delay."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography


@dataclass(frozen=True)
class RetryAfter:
    """A decision to retry: after `seconds` if the server said so, else after a backoff."""

    seconds: float | None = None


class GaveUpError(Exception):
    """Raised by `call_with_retries` when a call failed for good; `__cause__` is the last error."""

    def __init__(self, error: Exception, attempts: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts


async def call_with_retries(
    operation: Callable[[], Awaitable[T]],
    decide: Callable[[Exception], RetryAfter | None],
    policy: RetryPolicy,
) -> tuple[T, int]:
    """Run `operation` until it succeeds; return its value and how many attempts it took.

    `decide` looks at each error: None means it will not get better by retrying.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await operation(), attempt
        except Exception as error:
            decision = decide(error)
            if decision is None or attempt > policy.max_retries:
                raise GaveUpError(error, attempt) from error
            delay = policy.backoff(attempt) if decision.seconds is None else decision.seconds
            log.warning(
                "platform.retrying",
                attempt=attempt,
                delay_seconds=round(delay, 3),
                error=REDACTOR.redact(f"{type(error).__name__}: {error}"),
            )
            await anyio.sleep(delay)
