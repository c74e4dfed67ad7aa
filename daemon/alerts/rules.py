"""When the owner is told, from what the workflow reports (`daemon.events`).

- A post no platform took, moved to failed/ (`PostConcluded` "failed"). A post that waits
  to be tried again ("retrying") is not news: the platform's own rule below tells that.
- A platform that refused `after_failures` posts in a row (a post tried again counts once);
  a post it takes starts the count again.
- A platform that needs the owner (`PublishResult.needs_owner`: a login refused, a
  challenge): at once, without waiting for the count.
- A delivery whose answer never came (`unknown`): the owner decides.
- A platform the owner was told about that takes a post again: "recovered".
Each through `QuietPeriods`: one message per problem per quiet period.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial

from daemon.alerts import texts
from daemon.alerts.message import Alert
from daemon.alerts.quiet import Clock, QuietPeriods
from daemon.alerts.settings import AlertSettings
from daemon.alerts.texts import Commands, Occurrence
from daemon.events import DeliveryFinished, Event, PostConcluded
from daemon.ledger import DeliveryState


class AlertRules:
    """Turns events into the alerts they call for; no I/O, so it may run on the event loop."""

    def __init__(
        self, settings: AlertSettings, commands: Commands, clock: Clock = time.monotonic
    ) -> None:
        self.quiet = QuietPeriods(settings.quiet_minutes * 60, clock)
        self.after_failures = settings.after_failures
        self.commands = commands
        self._failing: dict[str, list[str]] = {}  # platform -> the posts it refused in a row

    def update(self, settings: AlertSettings, commands: Commands) -> None:
        """A reload's settings; what was counted and told so far stays."""
        self.quiet.quiet_seconds = settings.quiet_minutes * 60
        self.after_failures = settings.after_failures
        self.commands = commands

    def on_event(self, event: Event) -> list[Alert]:
        if isinstance(event, DeliveryFinished):
            return self._delivery(event)
        if isinstance(event, PostConcluded) and event.outcome == "failed":
            return self._post_failed(event)
        return []

    def due(self) -> list[Alert]:
        return self.quiet.due()

    def next_due(self) -> float | None:
        return self.quiet.next_due()

    def _delivery(self, event: DeliveryFinished) -> list[Alert]:
        platform, seen = event.platform, Occurrence(event.post, event.result.error)
        if event.state is DeliveryState.SENT:
            return self._works(platform, event.post)
        if event.state is DeliveryState.UNKNOWN:
            compose = partial(texts.unknown, platform, commands=self.commands)
            return _listed(self.quiet.struck(f"{platform} unknown", seen, compose))
        if event.state is not DeliveryState.FAILED:
            return []
        in_a_row = self._failing.setdefault(platform, [])
        if event.post not in in_a_row:
            in_a_row.append(event.post)
        if event.result.needs_owner:
            compose = partial(texts.needs_owner, platform, commands=self.commands)
            return _listed(self.quiet.struck(f"{platform} needs the owner", seen, compose))
        if len(in_a_row) < self.after_failures or self.quiet.told(f"{platform} needs the owner"):
            return []  # not yet; or the owner knows already, and what to do
        compose = partial(texts.failing, platform, list(in_a_row), commands=self.commands)
        return _listed(self.quiet.struck(f"{platform} failing", seen, compose))

    def _works(self, platform: str, post: str) -> list[Alert]:
        self._failing.pop(platform, None)
        told = [self.quiet.ended(f"{platform} {kind}") for kind in ("failing", "needs the owner")]
        return [texts.recovered(platform, post, self.commands)] if any(told) else []

    def _post_failed(self, event: PostConcluded) -> list[Alert]:
        seen = Occurrence(event.post, event.error or _reasons(event))
        compose = partial(texts.posts_failed, commands=self.commands)
        return _listed(self.quiet.struck("posts failed", seen, compose))


def _listed(alert: Alert | None) -> list[Alert]:
    return [] if alert is None else [alert]


def _reasons(event: PostConcluded) -> str | None:
    """Each platform's error, in one line."""
    errors: Sequence[str] = [
        f"{name}: {delivery.error}" for name, delivery in event.deliveries.items() if delivery.error
    ]
    return "; ".join(errors) or None
