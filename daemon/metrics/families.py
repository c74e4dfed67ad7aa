"""The metrics dropcast serves, and what each event changes in them.

Labels hold platform names, delivery states and outcomes only: never a post's name, its
caption or anything from a platform's settings, so no secret can reach a scrape.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)

from daemon import __version__
from daemon.events import DeliveryFinished, Event, InboxWaiting, PostConcluded
from daemon.ledger import DeliveryState

OUTCOMES = ("published", "partial", "failed", "duplicate", "retrying")
ANSWERS = (DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.UNKNOWN)
# Seconds: from a local folder's instant answer to an upload near the longest publish_timeout.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

_POSTS = "Posts whose turn ended, by outcome (retrying: no platform took it, it waits to retry)."
_DELIVERIES = (
    "Platform answers, by platform and the state the ledger recorded (sent, failed, unknown)."
)
_DURATIONS = "How long each platform took to answer for a post, whatever the answer."
_WAITING = "Posts in the inbox not yet filed, plus files there that wait for a partner."
_LAST_SUCCESS = "When each platform last accepted a post (Unix time); absent until it first does."
_BUILD = "The dropcast serving these metrics."


class DropcastMetrics:
    """One daemon's metrics, in a registry of its own (a test process runs several daemons)."""

    def __init__(self) -> None:
        # The process's own switch (untyped): no `_created` twin beside every series.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry = CollectorRegistry()
        self.posts = Counter("dropcast_posts", _POSTS, ["outcome"], registry=registry)
        self.deliveries = Counter(
            "dropcast_deliveries", _DELIVERIES, ["platform", "state"], registry=registry
        )
        self.durations = Histogram(
            "dropcast_publish_duration_seconds",
            _DURATIONS,
            ["platform"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.inbox_waiting = Gauge("dropcast_inbox_waiting", _WAITING, registry=registry)
        self.last_success = Gauge(
            "dropcast_last_success_timestamp_seconds",
            _LAST_SUCCESS,
            ["platform"],
            registry=registry,
        )
        Info("dropcast_build", _BUILD, registry=registry).info({"version": __version__})
        for outcome in OUTCOMES:  # every series exists from the start: a rate needs its zero
            self.posts.labels(outcome)

    def expect(self, platforms: Iterable[str]) -> None:
        """Show each platform's series at zero before its first answer."""
        for platform in platforms:
            self.durations.labels(platform)
            for state in ANSWERS:
                self.deliveries.labels(platform, state)

    def observe(self, event: Event) -> None:
        if isinstance(event, DeliveryFinished):
            self._answered(event)
        elif isinstance(event, PostConcluded):
            self.posts.labels(event.outcome).inc()
        elif isinstance(event, InboxWaiting):
            self.inbox_waiting.set(event.posts + len(event.waiting))

    def _answered(self, event: DeliveryFinished) -> None:
        self.deliveries.labels(event.platform, event.state).inc()
        self.durations.labels(event.platform).observe(event.result.duration_ms / 1000)
        if event.state is DeliveryState.SENT:
            self.last_success.labels(event.platform).set(time.time())
