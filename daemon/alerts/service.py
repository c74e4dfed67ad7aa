"""Alerts to the owner: told when something needs them, once per problem per quiet period.

Alerts go their own way and never hold up a post: `notify` only weighs the event
(`AlertRules`, no I/O) and queues what it calls for (a bounded queue: when it is full, the
alert is dropped and logged); `run` sends each alert to every destination at once, each in
its own error boundary and timeout. A destination that fails is logged
(`alert.send_failed`) and not tried again for that alert: a loop of retries would stall the
ones after it. At shutdown, what is queued gets a short, bounded flush.
"""

from __future__ import annotations

import math
import time
from collections import deque

import anyio
import structlog

from daemon.alerts.message import Alert
from daemon.alerts.quiet import Clock
from daemon.alerts.rules import AlertRules
from daemon.alerts.senders import Sender, senders_for
from daemon.alerts.texts import Commands
from daemon.config import ApplicationConfig
from daemon.events import Event

log = structlog.get_logger("dropcast.alerts")

FLUSH_SECONDS = 5.0  # at shutdown, for the alerts still queued


class AlertService:
    def __init__(self, config: ApplicationConfig, clock: Clock = time.monotonic) -> None:
        settings = config.core.alerts
        self._clock = clock
        self._rules = AlertRules(settings, Commands.of(config), clock)
        self._senders: list[Sender] = senders_for(settings)
        self._queue: deque[Alert] = deque()
        self._queue_size = settings.queue_size
        self._wake: anyio.Event | None = None  # made by `run`: it needs the event loop

    def notify(self, event: Event) -> None:
        if self._senders:  # no destination: nothing to weigh
            self._enqueue(self._rules.on_event(event))

    def apply(self, config: ApplicationConfig) -> None:
        settings = config.core.alerts
        self._rules.update(settings, Commands.of(config))
        self._senders = senders_for(settings)
        self._queue_size = settings.queue_size

    async def run(self) -> None:
        self._wake = anyio.Event()
        if self._queue:  # told before it ran
            self._wake.set()
        try:
            while True:
                await self._wait()
                self._enqueue(self._rules.due())
                while self._queue:
                    await self._deliver(self._queue.popleft())
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True), anyio.move_on_after(FLUSH_SECONDS):
                while self._queue:
                    await self._deliver(self._queue.popleft())
            raise

    def _enqueue(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            if len(self._queue) >= self._queue_size:
                log.warning("alert.dropped", problem=alert.problem, queued=len(self._queue))
                continue
            self._queue.append(alert)
        if alerts and self._wake is not None:
            self._wake.set()

    async def _wait(self) -> None:
        """Until an alert is queued, or a held one is due."""
        assert self._wake is not None
        due = self._rules.next_due()
        seconds = math.inf if due is None else max(0.0, due - self._clock())
        with anyio.move_on_after(seconds):
            await self._wake.wait()
        self._wake = anyio.Event()

    async def _deliver(self, alert: Alert) -> None:
        alert = alert.redacted()
        async with anyio.create_task_group() as destinations:
            for sender in self._senders:
                destinations.start_soon(_send_one, sender, alert)


async def _send_one(sender: Sender, alert: Alert) -> None:
    """One destination, in its own error boundary and timeout; never raises."""
    try:
        with anyio.fail_after(sender.timeout):
            await sender.send(alert)
    except TimeoutError:
        log.warning(
            "alert.send_failed",
            to=sender.name,
            problem=alert.problem,
            error=f"no answer within {sender.timeout:g} s",
        )
    except Exception as error:  # a failing destination must never stop the others
        log.warning("alert.send_failed", to=sender.name, problem=alert.problem, error=str(error))
    else:
        log.info("alert.sent", to=sender.name, problem=alert.problem)
