"""What happened, told to whoever watches for the owner: the status page, alerts, metrics.

The workflow and the daemon tell `Observers` what happened as it happens (on the event loop).
An observer only takes note (counts, marks its page out of date, queues a message) and
returns at once: watching never slows or stops publishing, and an observer that raises is
logged and left out of that one event, never the post's trouble.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from daemon.ledger import Delivery, DeliveryState
from daemon.publisher import PublishResult

log = structlog.get_logger("dropcast.events")


@dataclass(frozen=True)
class DeliveryFinished:
    """One platform answered for one post (its state as the ledger now records it)."""

    post: str  # the post's name, as dropped
    platform: str
    state: DeliveryState
    result: PublishResult


@dataclass(frozen=True)
class PostConcluded:
    """A post's turn ended: filed (`published`, `partial`, `duplicate`, `failed`) or
    `retrying` (no platform took it; it waits in the inbox until `next_attempt_at`)."""

    post: str  # the post's name, as dropped
    outcome: str
    deliveries: Mapping[str, Delivery] = field(default_factory=dict)
    record: Path | None = None  # its result record, once filed (the archived name)
    error: str | None = None
    attempts: int = 0
    next_attempt_at: float | None = None  # wall clock


@dataclass(frozen=True)
class WaitingFile:
    """A file in the inbox that is not on its way, and why (a caption missing, say)."""

    name: str
    reason: str
    since: float  # wall clock: when dropcast first saw it alone


@dataclass(frozen=True)
class InboxWaiting:
    """The inbox as it is now: files that wait for something, and posts not yet published."""

    waiting: Sequence[WaitingFile] = ()
    posts: int = 0  # posts in the inbox (in flight, settling or waiting to retry)


Event = DeliveryFinished | PostConcluded | InboxWaiting


class Observer(Protocol):
    def notify(self, event: Event) -> None:
        """Take note of `event` and return at once (no I/O on the event loop)."""


class Observers:
    """Everyone told what happens; each in its own error boundary."""

    def __init__(self, observers: Sequence[Observer] = ()) -> None:
        self._observers = list(observers)

    def add(self, observer: Observer) -> None:
        self._observers.append(observer)

    def notify(self, event: Event) -> None:
        for observer in self._observers:
            try:
                observer.notify(event)
            except Exception:  # the owner's view must never cost a post
                log.exception("observer.failed", observer=type(observer).__name__)


NO_OBSERVERS = Observers()
