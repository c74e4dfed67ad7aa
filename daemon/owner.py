"""The owner's view, beside the daemon: the status page, alerts and metrics.

Each is a service the daemon runs in the background for its whole life: told every event
(`daemon.events`), given every new config on a reload, and cancelled after the last post
in flight has ended (a service may finish its own work then, shielded, briefly).
"""

from __future__ import annotations

from typing import Protocol

from daemon.config import ApplicationConfig
from daemon.events import Event


class OwnerService(Protocol):
    def notify(self, event: Event) -> None:
        """Take note of `event` and return at once."""

    def apply(self, config: ApplicationConfig) -> None:
        """A reload's new config (the service may have been switched on or off)."""

    async def run(self) -> None:
        """Do the service's work until cancelled."""


def owner_services(config: ApplicationConfig) -> list[OwnerService]:
    """The status page, alerts and metrics, as the config sets them up."""
    from daemon.alerts.service import AlertService
    from daemon.metrics.service import MetricsService
    from daemon.page.service import PageService

    return [PageService(config), AlertService(config), MetricsService(config)]
