"""One message's trips to the server, and what the recipients' marks make of the result.

Each recipient of a message is one destination (its address, or "address (1/2)" for a
part of a split album): a trip sends only to the recipients not yet `sent`, and marks each
one as the server answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import structlog

from daemon.progress import Destination, Destinations, DestinationState
from daemon.publisher import PublishResult
from daemon.publishers.email.errors import (
    AnswerLostError,
    RecipientsDeferredError,
    diagnose,
    login_refused,
    recipient_refusal,
)
from daemon.publishers.email.settings import EmailSettings
from daemon.publishers.email.smtp import Delivery, SessionPool

log = structlog.get_logger("dropcast.email")

NO_MARK = Destination("", DestinationState.PENDING)  # a destination with no mark yet


class MessageSending:
    """One message's trips: each sends only to the recipients that lack it.

    `names` maps each recipient's address to its destination's name, in order.
    """

    def __init__(
        self,
        sessions: SessionPool,
        destinations: Destinations,
        names: Mapping[str, str],
        message: tuple[str, bytes],
    ) -> None:
        self.sessions = sessions
        self.settings: EmailSettings = sessions.settings
        self.destinations = destinations
        self.names = names
        self.message_id, self.payload = message
        self._in_flight: tuple[str, ...] = ()

    async def attempt(self) -> Delivery:
        """Send to every recipient not yet `sent`; raise to have the deferred ones retried."""
        known = await self.destinations.known()
        wanted = [a for a, name in self.names.items() if not known.get(name, NO_MARK).accepted]
        self._in_flight = ()
        try:
            delivery = await self.sessions.send(self.payload, wanted, self._before_data)
        except AnswerLostError as error:
            await self._settle(DestinationState.UNKNOWN, self._diagnosis(error))
            raise
        except Exception as error:  # an answer came, or nothing was sent: not delivered
            await self._settle(DestinationState.REFUSED, self._diagnosis(error))
            raise
        await self._record(delivery)
        deferred = [address for address, reply in delivery.refused.items() if reply.temporary]
        if deferred:
            raise RecipientsDeferredError(deferred)
        return delivery

    async def _before_data(self, accepted: tuple[str, ...]) -> None:
        self._in_flight = accepted
        await self.destinations.sending(self.names[address] for address in accepted)

    async def _settle(self, state: DestinationState, error: str) -> None:
        """Mark the recipients the message was on its way to (if any) as `state`."""
        if self._in_flight:
            await self.destinations.mark(
                Destination(self.names[address], state, self.message_id, error=error)
                for address in self._in_flight
            )

    async def _record(self, delivery: Delivery) -> None:
        marks = [
            Destination(self.names[address], DestinationState.SENT, self.message_id)
            for address in delivery.accepted
        ]
        marks += [
            Destination(
                self.names[address],
                DestinationState.REFUSED,
                error=recipient_refusal(address, reply.code, reply.text, self.settings),
            )
            for address, reply in delivery.refused.items()
        ]
        await self.destinations.mark(marks)
        if delivery.refused:
            log.warning(
                "email.recipients_refused",
                refused=list(delivery.refused),
                accepted=list(delivery.accepted),
            )

    def _diagnosis(self, error: Exception) -> str:
        return diagnose(error, self.settings).message


def message_id_of(known: Mapping[str, Destination], names: Sequence[str]) -> str | None:
    """The Message-ID one of `names` already got, so a later recipient gets the same one."""
    return next(
        (known[n].remote_id for n in names if n in known and known[n].remote_id is not None),
        None,
    )


def result_of(
    settings: EmailSettings,
    known: Mapping[str, Destination],
    names: Sequence[str],
    message_id: str | None,
    attempts: int,
    problem: Exception | None,
) -> PublishResult:
    """The result as the destinations' marks have it: ok only when every one has its message."""
    marks = [known.get(name, replace(NO_MARK, name=name)) for name in names]
    sent = [mark.name for mark in marks if mark.accepted]
    if len(sent) == len(names):
        return PublishResult(ok=True, remote_id=message_id, attempts=attempts)
    if problem is None or isinstance(problem, RecipientsDeferredError):
        parts = [m.error for m in marks if m.state is DestinationState.REFUSED and m.error]
    else:
        parts = [diagnose(problem, settings).message]
    doubtful = [mark.name for mark in marks if mark.name in known and mark.in_doubt]
    if doubtful and not isinstance(problem, AnswerLostError):
        parts.append(f"no answer came for {', '.join(doubtful)}: it may have arrived")
    if sent:
        parts.append(f"the message went to {', '.join(sent)}")
    return PublishResult(
        ok=False,
        remote_id=message_id if sent or doubtful else None,
        error="; ".join(parts),
        attempts=attempts,
        unknown=bool(doubtful),
        needs_owner=login_refused(problem),
    )
