"""When to try again: one policy for a whole post and for a single platform call.

- **A post** that no platform accepted stays in the inbox and waits `retry_delays[attempt]`
  (± 20 %) before its next attempt (`PostBackoff`), on the monotonic clock while dropcast
  runs; the ledger keeps the wall-clock time for the next start.
- **A platform call** that failed in a way that may get better (a rate limit, a 5xx, a
  dropped connection) is repeated inside the attempt (`call_with_retries`): the publisher
  says which errors those are (`Publisher.retry_on`), its settings say how often and how
  patiently (`CallRetrySettings`), and the base class applies the two.
- **An answer that never came** (`unknown`) is sent again only as the platform's
  `resend_after_unknown` allows (`resend_decision`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import anyio
import structlog

from daemon.secrets import REDACTOR

log = structlog.get_logger("dropcast.retry")

T = TypeVar("T")

RETRY_JITTER = 0.2  # a post-level wait is its configured delay ± 20 %
# A wait that ended this long ago belongs to a post no longer in the inbox (a post that is
# there is looked at every rescan): it is forgotten, and a restart's rule would apply.
FORGET_DUE_SECONDS = 86_400.0

ResendPolicy = Literal["safe", "check", "never"]
Resend = Literal["send", "check", "hold"]


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


NO_RETRIES = RetryPolicy(max_retries=0)


@dataclass(frozen=True)
class RetryAfter:
    """A decision to retry: after `seconds` if the server said so, else after a backoff."""

    seconds: float | None = None


RetryOn = Callable[[Exception], RetryAfter | None]


class GaveUpError(Exception):
    """Raised by `call_with_retries` when a call failed for good; `__cause__` is the last error."""

    def __init__(self, error: Exception, attempts: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts


async def call_with_retries(
    operation: Callable[[], Awaitable[T]], retry_on: RetryOn, policy: RetryPolicy
) -> tuple[T, int]:
    """Run `operation` until it succeeds; return its value and how many attempts it took.

    `retry_on` looks at each error: None means it will not get better by retrying.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await operation(), attempt
        except Exception as error:
            decision = retry_on(error)
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


def post_retry_delay(delays: tuple[float, ...], attempt: int) -> float:
    """The wait after failed post attempt number `attempt`, with ±20 % jitter."""
    base = delays[min(attempt, len(delays)) - 1]
    return base * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)  # noqa: S311 - jitter, not cryptography


class PostBackoff:
    """When each post waiting out a backoff is due again, on the event loop's monotonic clock.

    While dropcast runs a wait is measured on the monotonic clock, so a step of the wall
    clock moves none. After a restart the ledger's wall-clock time tells, capped at the
    longest configured delay, so a clock stepped back delays nothing by the step.
    """

    def __init__(self) -> None:
        self._due: dict[int, float] = {}  # by the post's ledger id

    def left(self, post_id: int, stored_at: float | None, delays: tuple[float, ...]) -> float:
        """Seconds until post `post_id` may be tried again; `stored_at` is the ledger's time."""
        if post_id not in self._due:
            if stored_at is None:
                return 0.0
            wall = stored_at - time.time()
            self._due[post_id] = anyio.current_time() + min(wall, max(delays) * (1 + RETRY_JITTER))
        return self._due[post_id] - anyio.current_time()

    def wait(self, post_id: int, seconds: float) -> float:
        """Start post `post_id`'s wait of `seconds`; return when it ends (monotonic)."""
        self._forget_long_due()
        self._due[post_id] = anyio.current_time() + seconds
        return self._due[post_id]

    def clear(self, post_id: int) -> None:
        """The post is being filed: it waits no more."""
        self._due.pop(post_id, None)

    def __len__(self) -> int:
        return len(self._due)

    def _forget_long_due(self) -> None:
        """Drop the waits that ended long ago: their posts left the inbox while waiting."""
        long_ago = anyio.current_time() - FORGET_DUE_SECONDS
        self._due = {post_id: due for post_id, due in self._due.items() if due > long_ago}


def resend_decision(policy: ResendPolicy, *, by_owner: bool) -> Resend:
    """What to do with a delivery whose answer is unknown: it may have reached the platform.

    "send" when sending twice does no harm ("safe") or the owner asked (`dropcast retry`),
    "check" to ask the platform first, "hold" to leave it for the owner: never blindly.
    """
    if policy == "check":
        return "check"
    if policy == "safe" or by_owner:
        return "send"
    return "hold"
