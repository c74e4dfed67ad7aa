"""The destinations `alerts.to` names, each a `Sender`."""

from __future__ import annotations

from typing import Protocol

from daemon.alerts.message import Alert
from daemon.alerts.settings import AlertDestination, AlertSettings


class Sender(Protocol):
    name: str  # what a log line calls it, never a secret: "telegram chat 123456789"
    timeout: float  # seconds for one alert, all in

    async def send(self, alert: Alert) -> None:
        """Deliver `alert`; raise `AlertSendError` (or any error) if it did not go."""


def senders_for(settings: AlertSettings) -> list[Sender]:
    return [_sender(destination) for destination in settings.to]


def _sender(destination: AlertDestination) -> Sender:
    # Each imported only when used: Apprise is optional, and none is needed without alerts.
    if destination.telegram is not None:
        from daemon.alerts.to_telegram import TelegramAlerts

        return TelegramAlerts(destination.telegram)
    if destination.email is not None:
        from daemon.alerts.to_email import EmailAlerts

        return EmailAlerts(destination.email)
    assert destination.apprise is not None  # the settings hold exactly one of the three
    from daemon.alerts.to_apprise import AppriseAlerts

    return AppriseAlerts(destination.apprise.get_secret_value())
