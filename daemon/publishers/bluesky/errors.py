"""The atproto SDK's errors in the owner's words, and what each says about retrying.

A request that got no answer (a time-out, a connection lost after it was made, a server
error behind a proxy) may have reached the server: for a record's creation that is an
unknown outcome, which dropcast settles by asking for the record by its key, never by
posting again blindly. A connection never made reached nothing.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from daemon.retry import RetryAfter


class BlueskyError(Exception):
    """Raised for a failure dropcast itself finds (an image it cannot fit, a lost root)."""


def describe(error: Exception) -> str:
    """What went wrong, in a sentence for the record (the SDK's own words name the error)."""
    from atproto_client import exceptions

    if isinstance(error, exceptions.InvokeTimeoutError):
        return "Bluesky did not answer in time (request_timeout)"
    if isinstance(error, exceptions.RequestErrorBase) and error.response is None:
        cause = error.__cause__
        return f"could not reach Bluesky: {type(cause).__name__}: {cause}"
    if isinstance(error, exceptions.UnauthorizedError):
        return f"Bluesky refused the login or session ({error}): check handle and app_password"
    if isinstance(error, exceptions.RequestErrorBase):
        return f"Bluesky refused the request: {error}"
    return f"{type(error).__name__}: {error}"


def retry_after(error: Exception) -> RetryAfter | None:
    """Whether a call that failed with `error` may pass if made again, and when."""
    from atproto_client import exceptions

    if isinstance(error, exceptions.RateLimitExceededError):
        return RetryAfter(_rate_limit_wait(error))
    if isinstance(error, exceptions.RequestErrorBase) and error.response is None:
        return RetryAfter()  # a transport failure
    status = _status(error)
    if status is not None and status >= 500:
        return RetryAfter()
    return None


def may_have_arrived(error: Exception) -> bool:
    """Whether a request that failed with `error` may have been carried out all the same."""
    import httpx
    from atproto_client import exceptions

    if not isinstance(error, exceptions.RequestErrorBase):
        return False
    if error.response is None:
        return not isinstance(error.__cause__, httpx.ConnectError)
    status = _status(error)
    return status is not None and status >= 500


def _status(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    return None if response is None else int(response.status_code)


def _rate_limit_wait(error: object) -> float | None:
    """The seconds until the rate limit's window resets, from its headers."""
    wait = getattr(error, "retry_after", None)
    if wait is not None:
        return float(wait)
    reset: datetime | None = getattr(error, "reset_at", None)
    if reset is None:
        return None
    seconds = (reset - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None
