"""Mastodon.py in a worker thread: one client per publisher, its errors in the owner's words.

Mastodon.py is blocking, so every call runs in `anyio.to_thread.run_sync` under the
publisher's own `CapacityLimiter(1)` (one request at a time, as its rate-limit bookkeeping
needs) with `request_timeout` on the socket: a call given up by the publish timeout still
ends within it. Rate limits are honoured, not hit: after an answer that spent the last
request of the window (`X-RateLimit-Remaining: 0`) the next call waits for
`X-RateLimit-Reset`, and a 429 says how long to wait before the call is made again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio

from daemon.publishers.mastodon.settings import MastodonSettings
from daemon.retry import RetryAfter

__all__ = ["MastodonApi", "MastodonCallError"]

T = TypeVar("T")

_USER_AGENT = "dropcast (+https://github.com/dropcast)"
_API_V2 = "4.0.0"  # the first version with /api/v2/instance


class MastodonCallError(Exception):
    """Raised by `MastodonApi.run` when the server refused a call or could not be reached.

    `retry` is set when the same call may succeed later (a rate limit, a server error, a
    network failure, media still processing); `lost` when the request may have been carried
    out and its answer never came.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry: RetryAfter | None = None,
        lost: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry = retry
        self.lost = lost


class MastodonApi:
    """The account's client, made on first use in the worker thread, with the server's
    `/api/v2/instance` as it was read then (once per session)."""

    def __init__(self, settings: MastodonSettings) -> None:
        self._settings = settings
        self._limiter = anyio.CapacityLimiter(1)
        self._client: Any = None
        self._instance: Mapping[str, Any] = {}
        self._last: Any = None  # the client that made the last request
        self._window_ends = 0.0  # the wall-clock time the spent rate-limit window ends

    async def run(self, work: Callable[[Any], T]) -> T:
        """`work(client)` in the worker thread; raises `MastodonCallError` for Mastodon's errors."""
        await self._wait_for_window()
        return await anyio.to_thread.run_sync(self._call, work, limiter=self._limiter)

    async def instance(self) -> Mapping[str, Any]:
        """The server's `/api/v2/instance`, read when the session began."""
        return await self.run(lambda _: self._instance)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await anyio.to_thread.run_sync(client.session.close, limiter=self._limiter)

    def scrub(self, text: str) -> str:
        token = self._settings.access_token.get_secret_value()
        return text.replace(token, "[redacted]") if token else text

    async def _wait_for_window(self) -> None:
        wait = self._window_ends - time.time()
        if wait <= 0:
            return
        if wait > _time_left():
            raise MastodonCallError(
                f"rate limited: the server takes no more requests for {math.ceil(wait)} s"
            )
        await anyio.sleep(wait)

    def _call(self, work: Callable[[Any], T]) -> T:
        from mastodon import MastodonError

        try:
            return work(self._client or self._connect())
        except MastodonError as error:
            raise self._translated(error) from None
        finally:
            if self._last is not None:
                self._note_window(self._last)

    def _connect(self) -> Any:
        """Read the server's instance, then make the client that knows its version.

        Told the version, Mastodon.py asks for it no more (its own look, through the
        deprecated `/api/v1/instance`, recurses without end when that request fails).
        """
        import requests
        from mastodon import Mastodon, MastodonVersionError

        settings = self._settings
        common: dict[str, Any] = {
            "api_base_url": settings.api_base_url,
            "access_token": settings.access_token.get_secret_value(),
            "ratelimit_method": "throw",  # waits happen here, cancellable, not in a thread
            "request_timeout": settings.request_timeout,
            "user_agent": _USER_AGENT,
            "session": requests.Session(),
        }
        self._last = Mastodon(**common, version_check_mode="none")
        instance = self._last.instance_v2()
        try:
            client = Mastodon(
                **common,
                mastodon_version=str(instance.get("version")),
                version_check_mode="created",
            )
        except MastodonVersionError:  # a version Mastodon.py cannot read: take the API's
            client = Mastodon(**common, mastodon_version=_API_V2, version_check_mode="created")
        self._client, self._instance, self._last = client, instance, client
        return client

    def _note_window(self, client: Any) -> None:
        reset = client.ratelimit_reset
        spent = client.ratelimit_remaining is not None and client.ratelimit_remaining <= 0
        self._window_ends = float(reset) if spent and reset is not None else 0.0

    def _translated(self, error: Exception) -> MastodonCallError:
        from mastodon import MastodonAPIError, MastodonNetworkError, MastodonRatelimitError

        if isinstance(error, MastodonRatelimitError):
            return self._rate_limited()
        if isinstance(error, MastodonNetworkError):
            reached = not _never_connected(error)
            what = "no answer from the server" if reached else "could not reach the server"
            return MastodonCallError(
                self.scrub(f"{what}: {error}"), retry=RetryAfter(), lost=reached
            )
        if isinstance(error, MastodonAPIError) and len(error.args) >= 4:
            return self._refusal(int(error.args[1]), error.args[3] or error.args[2])
        return MastodonCallError(self.scrub(f"{type(error).__name__}: {error}"))

    def _rate_limited(self) -> MastodonCallError:
        reset = self._last.ratelimit_reset if self._last is not None else None
        wait = max(0.0, float(reset) - time.time()) if reset is not None else None
        when = f" for {math.ceil(wait)} s" if wait is not None else ""
        return MastodonCallError(
            f"rate limited (429): the server takes no more requests{when}",
            status=429,
            retry=RetryAfter(wait),
        )

    def _refusal(self, status: int, said: object) -> MastodonCallError:
        message = self.scrub(f"the server answered {status}: {said}")
        if status == 401:
            return MastodonCallError(
                f"{message} (check platforms.mastodon.access_token)", status=status
            )
        if status == 422 and "processing" in str(said).lower():  # media not ready yet
            return MastodonCallError(message, status=status, retry=RetryAfter())
        if status >= 500:  # it may have done the work before it failed
            return MastodonCallError(message, status=status, retry=RetryAfter(), lost=True)
        return MastodonCallError(message, status=status)


def _never_connected(error: Exception) -> bool:
    """True if the request surely never reached the server (no connection was made)."""
    import requests

    cause = error.__context__
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(cause, requests.exceptions.ConnectionError) or not cause.args:
        return False
    reason = getattr(cause.args[0], "reason", cause.args[0])
    return "NewConnectionError" in type(reason).__name__ or "Failed to establish" in str(reason)


def _time_left() -> float:
    """Seconds until the publish timeout (infinite outside one)."""
    deadline = anyio.current_effective_deadline()
    return math.inf if math.isinf(deadline) else deadline - anyio.current_time()
