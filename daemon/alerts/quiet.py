"""At most one message per problem per quiet period, and none lost for it.

A problem struck again within its quiet period is held back, with every post it struck
since its last message; when the period ends the held message goes, naming them all. A
problem that ends (the platform works again) drops what was held: the owner, never told of
it, needs no news of its end. What is told is remembered, so its end can be told too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from daemon.alerts.message import Alert
from daemon.alerts.texts import Occurrence

Clock = Callable[[], float]
Compose = Callable[[Sequence[Occurrence]], Alert]  # the message, from the posts struck since


@dataclass
class _Problem:
    last_sent: float | None = None  # when its last message went
    told: bool = False  # the owner heard of it, and not yet of its end
    since: list[Occurrence] = field(default_factory=list)  # struck since its last message
    compose: Compose | None = None  # held back by the quiet period


class QuietPeriods:
    """Which problems' messages may go now, and which wait for their quiet period to end."""

    def __init__(self, quiet_seconds: float, clock: Clock) -> None:
        self.quiet_seconds = quiet_seconds
        self.clock = clock
        self._problems: dict[str, _Problem] = {}

    def struck(self, problem: str, occurrence: Occurrence, compose: Compose) -> Alert | None:
        """`problem` struck a post: its message now, or None if held back until `next_due`."""
        state = self._problems.setdefault(problem, _Problem())
        state.since.append(occurrence)
        state.compose = compose
        return self._send_if_due(state, self.clock())

    def ended(self, problem: str) -> bool:
        """`problem` is over: whether the owner had been told of it."""
        state = self._problems.get(problem)
        if state is None:
            return False
        told = state.told
        state.told, state.since, state.compose = False, [], None  # its last_sent stays
        return told

    def told(self, problem: str) -> bool:
        """Whether the owner heard of `problem`, and not yet of its end."""
        state = self._problems.get(problem)
        return state is not None and state.told

    def due(self) -> list[Alert]:
        """The held messages whose quiet period has ended."""
        now = self.clock()
        return [
            alert
            for state in self._problems.values()
            if (alert := self._send_if_due(state, now)) is not None
        ]

    def next_due(self) -> float | None:
        """When the first held message may go (on `clock`), None if none is held."""
        times = [
            state.last_sent + self.quiet_seconds
            for state in self._problems.values()
            if state.compose is not None and state.last_sent is not None
        ]
        return min(times, default=None)

    def _send_if_due(self, state: _Problem, now: float) -> Alert | None:
        if state.compose is None:
            return None
        if state.last_sent is not None and now - state.last_sent < self.quiet_seconds:
            return None
        alert = state.compose(state.since)
        state.last_sent, state.told, state.since, state.compose = now, True, [], None
        return alert
