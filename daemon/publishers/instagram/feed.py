"""The post's one Instagram destination, "feed", marked from the worker thread.

The daemon keeps each mark in the ledger before it returns: `sending` right before
configure's first byte, then `sent`, `refused` or `unknown`. A thread the daemon gave up
on (its `publish_timeout`) still marks the answer when it comes, so a later attempt finds
the post there instead of sending it again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import structlog

from daemon.progress import Destination, Destinations

log = structlog.get_logger("dropcast.instagram")

FEED = "feed"

T = TypeVar("T")


class MarkFailedError(Exception):
    """Raised by `FeedMarks.sending` when the mark could not be recorded (nothing is sent)."""


class FeedMarks:
    """One attempt's marks of the feed destination; call from the worker thread only."""

    def __init__(self, destinations: Destinations) -> None:
        self._destinations = destinations
        self._marked_sending = False

    def known(self) -> Destination | None:
        """The feed destination as marked so far (by any attempt), or None."""
        return _run(self._destinations.known).get(FEED)

    def sending(self, checkpoint: Callable[[], None]) -> None:
        """Mark `sending`, then `checkpoint()`: a given-up attempt is marked back `refused`."""
        try:
            _run(self._destinations.sending, [FEED])
        except Exception as error:
            raise MarkFailedError(str(error)) from error
        self._marked_sending = True
        try:
            checkpoint()
        except BaseException:  # given up before configure's first byte: it was never sent
            self._try(self._destinations.refused, FEED, "not sent: the attempt was given up")
            raise

    def sent(self, remote_id: str | None, url: str | None) -> None:
        self._try(self._destinations.sent, FEED, remote_id, url)

    def refused(self, error: str) -> None:
        if self._marked_sending:  # nothing to correct if configure was never on its way
            self._try(self._destinations.refused, FEED, error)

    def unknown(self, error: str) -> None:
        self._try(self._destinations.unknown, FEED, error)

    def _try(self, mark: Callable[..., Awaitable[None]], *args: object) -> None:
        try:
            _run(mark, *args)
        except Exception:  # the attempt's own result still says it (unless it was given up)
            log.exception("instagram.mark_failed", destination=FEED, mark=mark.__name__)


def _run(mark: Callable[..., Awaitable[T]], *args: object) -> T:
    return anyio.from_thread.run(_shielded, mark, *args)


async def _shielded(mark: Callable[..., Awaitable[T]], *args: object) -> T:
    # An attempt given up (its cancel scope cancelled) still records an answer that came.
    with anyio.CancelScope(shield=True):
        result = await mark(*args)
    return result
