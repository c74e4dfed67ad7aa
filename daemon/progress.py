"""Per-destination progress: which chats, recipients or message parts already have a post.

A platform that sends one post to several destinations (Telegram's chats and each chat's
caption replies, e-mail's recipients) marks each one as it goes: `sending` right before the
first byte that can reach it, then `sent`, `refused` (it answered no: safe to try again) or
`unknown` (no answer came after the request may have arrived). The daemon keeps the marks
in the ledger, each committed before the call returns, keyed by the post's ledger row, so a
later attempt, a restart after a crash or `dropcast retry` sends only to the destinations
that did not accept. A destination marked `sent` is never sent the post again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from daemon.post import Post


class DestinationState(StrEnum):
    PENDING = "pending"  # a request is on its way (after a crash: unknown)
    SENT = "sent"
    REFUSED = "refused"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Destination:
    """One destination's part in one post on one platform."""

    name: str
    state: DestinationState
    remote_id: str | None = None
    url: str | None = None
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return self.state is DestinationState.SENT

    @property
    def in_doubt(self) -> bool:
        """It may have the post: never send it again without the owner's word or a check."""
        return self.state in (DestinationState.PENDING, DestinationState.UNKNOWN)


class Destinations(ABC):
    """One post's destinations on one platform. Each mark is durable when it returns."""

    @abstractmethod
    async def known(self) -> dict[str, Destination]:
        """Every destination marked so far, by name."""

    @abstractmethod
    async def mark(self, destinations: Iterable[Destination]) -> None:
        """Record these destinations' states (together, in one step)."""

    async def sending(self, names: Iterable[str]) -> None:
        """Requests to `names` are about to be made: call right before the first byte."""
        await self.mark(Destination(name, DestinationState.PENDING) for name in names)

    async def sent(self, name: str, remote_id: str | None = None, url: str | None = None) -> None:
        await self.mark([Destination(name, DestinationState.SENT, remote_id, url)])

    async def refused(self, name: str, error: str) -> None:
        await self.mark([Destination(name, DestinationState.REFUSED, error=error)])

    async def unknown(self, name: str, error: str) -> None:
        await self.mark([Destination(name, DestinationState.UNKNOWN, error=error)])

    async def settle_pending(self, error: str) -> list[str]:
        """Every destination still `pending` becomes `unknown` (its answer will never come
        now); returns the names of all that are in doubt, those and the ones unknown before."""
        known = (await self.known()).values()
        pending = [d.name for d in known if d.state is DestinationState.PENDING]
        await self.mark(
            Destination(name, DestinationState.UNKNOWN, error=error) for name in pending
        )
        return [d.name for d in known if d.in_doubt]


class ProgressStore(ABC):
    """Where publishers keep per-destination progress; `PublisherContext.progress`."""

    @abstractmethod
    def for_post(self, post: Post, platform: str) -> Destinations:
        """`post`'s destinations on `platform`."""


class MemoryProgress(ProgressStore):
    """Progress kept only in this process: for a publisher used outside the daemon."""

    def __init__(self) -> None:
        self._posts: dict[tuple[str, str], dict[str, Destination]] = {}

    def for_post(self, post: Post, platform: str) -> Destinations:
        # Outside the ledger a post is its files with their content.
        key = (str(post.ledger_id or (post.identity, post.files)), platform)
        return _MemoryDestinations(self._posts.setdefault(key, {}))


class _MemoryDestinations(Destinations):
    def __init__(self, marks: dict[str, Destination]) -> None:
        self._marks = marks

    async def known(self) -> dict[str, Destination]:
        return dict(self._marks)

    async def mark(self, destinations: Iterable[Destination]) -> None:
        for destination in destinations:  # as the ledger does: a mark keeps ids it does not name
            earlier = self._marks.get(destination.name)
            if earlier is not None:
                destination = replace(
                    destination,
                    remote_id=destination.remote_id or earlier.remote_id,
                    url=destination.url or earlier.url,
                )
            self._marks[destination.name] = destination


def accepted(known: Mapping[str, Destination]) -> set[str]:
    """The names of the destinations that have the post."""
    return {name for name, destination in known.items() if destination.accepted}
