"""A post's Instagram destinations, marked from the worker thread.

A one-image post has one destination, "feed"; an album has one per carousel post made of
it, "carousel 1", "carousel 2", ... (see `album`), each marked as "feed" is.

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
    """One attempt's marks of one destination (by default "feed"); call from the worker
    thread only."""

    def __init__(self, destinations: Destinations, name: str = FEED) -> None:
        self._destinations = destinations
        self.name = name
        self._marked_sending = False

    def known(self) -> Destination | None:
        """This destination as marked so far (by any attempt), or None."""
        return self.known_all().get(self.name)

    def known_all(self) -> dict[str, Destination]:
        """Every destination of the post on Instagram, as marked so far."""
        return _run(self._destinations.known)

    def named(self, name: str) -> FeedMarks:
        """The marks of another destination of the same post."""
        return FeedMarks(self._destinations, name)

    def sending(self, checkpoint: Callable[[], None]) -> None:
        """Mark `sending`, then `checkpoint()`: a given-up attempt is marked back `refused`."""
        try:
            _run(self._destinations.sending, [self.name])
        except Exception as error:
            raise MarkFailedError(str(error)) from error
        self._marked_sending = True
        try:
            checkpoint()
        except BaseException:  # given up before configure's first byte: it was never sent
            self._try(self._destinations.refused, self.name, "not sent: the attempt was given up")
            raise

    def sent(self, remote_id: str | None, url: str | None) -> None:
        self._try(self._destinations.sent, self.name, remote_id, url)

    def refused(self, error: str) -> None:
        if self._marked_sending:  # nothing to correct if configure was never on its way
            self._try(self._destinations.refused, self.name, error)

    def unknown(self, error: str) -> None:
        self._try(self._destinations.unknown, self.name, error)

    def _try(self, mark: Callable[..., Awaitable[None]], *args: object) -> None:
        try:
            _run(mark, *args)
        except Exception:  # the attempt's own result still says it (unless it was given up)
            log.exception("instagram.mark_failed", destination=self.name, mark=mark.__name__)


def _run(mark: Callable[..., Awaitable[T]], *args: object) -> T:
    return anyio.from_thread.run(_shielded, mark, *args)


async def _shielded(mark: Callable[..., Awaitable[T]], *args: object) -> T:
    # An attempt given up (its cancel scope cancelled) still records an answer that came.
    with anyio.CancelScope(shield=True):
        result = await mark(*args)
    return result
