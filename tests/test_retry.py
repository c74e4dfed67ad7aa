"""Retrying a platform call: how often, how long, and what is given up on."""

from __future__ import annotations

import pytest

from daemon.retry import GaveUpError, RetryAfter, RetryPolicy, call_with_retries

FAST = RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.01)


class Flaky:
    """Fails with `error` the first `failures` calls, then returns 'done'."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


def always_retry(_: Exception) -> RetryAfter:
    return RetryAfter()


def never_retry(_: Exception) -> None:
    return None


async def test_a_transient_failure_is_retried_until_it_succeeds() -> None:
    """Two failures then success returns the value and three attempts."""
    operation = Flaky(2, ConnectionError("reset"))
    assert await call_with_retries(operation, always_retry, FAST) == ("done", 3)


async def test_retries_stop_after_max_retries() -> None:
    """A call that keeps failing is given up after 1 + max_retries attempts, keeping the last error."""
    operation = Flaky(10, ConnectionError("down"))
    with pytest.raises(GaveUpError) as caught:
        await call_with_retries(operation, always_retry, FAST)
    assert (caught.value.attempts, operation.calls) == (4, 4)
    assert isinstance(caught.value.error, ConnectionError)


async def test_an_error_that_will_not_get_better_is_not_retried() -> None:
    """When `decide` says no, the first error is final."""
    operation = Flaky(1, PermissionError("bad password"))
    with pytest.raises(GaveUpError) as caught:
        await call_with_retries(operation, never_retry, FAST)
    assert (caught.value.attempts, operation.calls) == (1, 1)


@pytest.mark.parametrize(("retry", "ceiling"), [(1, 1.0), (2, 2.0), (3, 4.0), (10, 30.0)])
def test_backoff_grows_exponentially_up_to_the_cap(retry: int, ceiling: float) -> None:
    """Each wait is random between 0 and base_delay * 2**(retry-1), never above max_delay."""
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    waits = [policy.backoff(retry) for _ in range(200)]
    assert all(0 <= wait <= ceiling for wait in waits)
    assert max(waits) > ceiling / 2  # jitter spreads over the range, it is not stuck at 0
