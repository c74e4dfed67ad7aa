"""`EmailPublisher`: one post, one message, sent to each recipient that does not have it yet.

Each recipient is one destination in the post's progress: a retry (the daemon's, or
`dropcast retry`) sends only to the recipients that are not `sent`, and a message whose
answer was lost after it was sent leaves its recipients `unknown`, never re-sent by
itself. Posts on their way at the same time share one SMTP connection (the last one says
QUIT), TLS verified by default. Connection failures, timeouts and 4xx replies before the
message was sent are retried with backoff (`retry_on`; the section's `max_retries`,
`retry_base_delay` and `retry_max_delay` say how often); a refused login, a 5xx refusal, a message too
large or a certificate that cannot be verified is not, and the result says what to fix.
aiosmtplib is imported only when a message is sent, so a disabled platform costs nothing.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from email.utils import parseaddr

import anyio
import structlog

from daemon.post import Post
from daemon.progress import Destination, Destinations, DestinationState
from daemon.publisher import Publisher, PublisherContext, PublishResult
from daemon.publishers.email.errors import (
    AnswerLostError,
    EmailCheckError,
    RecipientsDeferredError,
    diagnose,
    recipient_refusal,
)
from daemon.publishers.email.image import Attachment, ImageTooLargeError, load_attachment
from daemon.publishers.email.message import as_smtp_bytes, build_message
from daemon.publishers.email.settings import EmailSettings
from daemon.publishers.email.smtp import Delivery, SessionPool, make_tls_context
from daemon.retry import GaveUpError, RetryAfter

log = structlog.get_logger("dropcast.email")

BYTES_PER_MB = 1_000_000


class EmailPublisher(Publisher[EmailSettings]):
    """Sends each post as an e-mail through one SMTP server."""

    platform_name = "email"
    settings_model = EmailSettings
    tracks_destinations = True  # each recipient, in the ledger

    def __init__(self, settings: EmailSettings, context: PublisherContext) -> None:
        super().__init__(settings, context)
        self._sessions = SessionPool(settings, self._tls_context)

    async def publish(self, post: Post) -> PublishResult:
        async with self._sessions.in_use():
            return await self._publish(post)

    async def _publish(self, post: Post) -> PublishResult:
        destinations = self.context.progress.for_post(post, self.platform_name)
        known = await destinations.known()
        if all(known.get(address, _NONE).accepted for address in self._recipients):
            return PublishResult(ok=True, remote_id=_message_id_of(known), attempts=0)
        try:
            message_id, payload, attachment = await anyio.to_thread.run_sync(
                self._prepare, post, _message_id_of(known)
            )
        except ImageTooLargeError as error:
            return PublishResult.failure(str(error))
        _log_resize(attachment)
        sending = _Sending(self, destinations, message_id, payload)
        problem: Exception | None = None
        try:
            _, attempts = await self.call(sending.attempt)
        except GaveUpError as error:
            problem, attempts = error.error, error.attempts
        result = _result(self, await destinations.known(), message_id, attempts, problem)
        return replace(result, notes=_resize_notes(attachment))

    def retry_on(self, error: Exception) -> RetryAfter | None:
        """Connection trouble, timeouts and 4xx replies before the message was sent may get
        better by themselves; a lost answer, a refused login or a 5xx never does."""
        return RetryAfter() if diagnose(error, self.settings).retry else None

    @property
    def _recipients(self) -> tuple[str, ...]:
        """The envelope addresses, each once: the names of this platform's destinations."""
        return tuple(dict.fromkeys(parseaddr(address)[1] for address in self.settings.recipients))

    async def check_connection(self) -> str:
        try:
            session, description = await self._sessions.open()
        except Exception as error:
            raise EmailCheckError(diagnose(error, self.settings).message) from None
        await self._sessions.end(session)
        return description

    async def close(self) -> None:
        await self._sessions.close()

    def _prepare(self, post: Post, message_id: str | None) -> tuple[str, bytes, Attachment]:
        """Build the message (blocking: images are read and maybe re-encoded).

        A recipient sent the post later gets the same Message-ID as the ones that have it.
        """
        limit = int(self.settings.max_attachment_mb * BYTES_PER_MB)
        attachment = load_attachment(post.image, limit)
        caption = post.caption_for(self.platform_name)
        now = datetime.now().astimezone()
        message = build_message(self.settings, post.stem, caption, attachment, now, message_id)
        return str(message["Message-ID"]), as_smtp_bytes(message), attachment

    async def _tls_context(self) -> ssl.SSLContext | None:
        """A fresh verifying context per connection, so a renewed ca_file is picked up."""
        if self.settings.security == "none":
            return None
        return await anyio.to_thread.run_sync(make_tls_context, self.settings.ca_file)


def _log_resize(attachment: Attachment) -> None:
    if attachment.resized_from is not None:
        log.info(
            "email.image_resized",
            original_bytes=attachment.resized_from,
            sent_bytes=len(attachment.data),
            size=list(attachment.size),
            quality=attachment.quality,
        )


def _resize_notes(attachment: Attachment) -> tuple[str, ...]:
    if attachment.resized_from is None:
        return ()
    width, height = attachment.size
    return (
        f"image re-encoded to fit max_attachment_mb: {attachment.resized_from:,} bytes → "
        f"{len(attachment.data):,} bytes ({width}x{height}, JPEG quality {attachment.quality})",
    )


class _Sending:
    """One post's trips to the server: each sends only to the recipients that lack it."""

    def __init__(
        self,
        publisher: EmailPublisher,
        destinations: Destinations,
        message_id: str,
        payload: bytes,
    ) -> None:
        self.publisher = publisher
        self.destinations = destinations
        self.message_id = message_id
        self.payload = payload
        self._in_flight: tuple[str, ...] = ()

    async def attempt(self) -> Delivery:
        """Send to every recipient not yet `sent`; raise to have the deferred ones retried."""
        known = await self.destinations.known()
        wanted = [a for a in self.publisher._recipients if not known.get(a, _NONE).accepted]
        self._in_flight = ()
        try:
            delivery = await self.publisher._sessions.send(self.payload, wanted, self._before_data)
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
        await self.destinations.sending(accepted)

    async def _settle(self, state: DestinationState, error: str) -> None:
        """Mark the recipients the message was on its way to (if any) as `state`."""
        if self._in_flight:
            await self.destinations.mark(
                Destination(address, state, self.message_id, error=error)
                for address in self._in_flight
            )

    async def _record(self, delivery: Delivery) -> None:
        settings = self.publisher.settings
        marks = [
            Destination(address, DestinationState.SENT, self.message_id)
            for address in delivery.accepted
        ]
        marks += [
            Destination(
                address,
                DestinationState.REFUSED,
                error=recipient_refusal(address, reply.code, reply.text, settings),
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
        return diagnose(error, self.publisher.settings).message


_NONE = Destination("", DestinationState.PENDING)  # a recipient with no mark yet


def _message_id_of(known: Mapping[str, Destination]) -> str | None:
    """The Message-ID a recipient already got for this post, if any."""
    return next((d.remote_id for d in known.values() if d.remote_id is not None), None)


def _result(
    publisher: EmailPublisher,
    known: Mapping[str, Destination],
    message_id: str,
    attempts: int,
    problem: Exception | None,
) -> PublishResult:
    """The result as the recipients' marks have it: ok only when every one has the post."""
    recipients = publisher._recipients
    marks = [known.get(address, replace(_NONE, name=address)) for address in recipients]
    sent = [mark.name for mark in marks if mark.accepted]
    if len(sent) == len(recipients):
        return PublishResult(ok=True, remote_id=message_id, attempts=attempts)
    if problem is None or isinstance(problem, RecipientsDeferredError):
        parts = [m.error for m in marks if m.state is DestinationState.REFUSED and m.error]
    else:
        parts = [diagnose(problem, publisher.settings).message]
    doubtful = [mark.name for mark in marks if mark.name in known and mark.in_doubt]
    if doubtful and not isinstance(problem, AnswerLostError):
        parts.append(f"no answer came for {', '.join(doubtful)}: it may have arrived")
    if sent:
        parts.append(f"the message went to {', '.join(sent)}")
    error = "; ".join(parts)
    return PublishResult(
        ok=False,
        remote_id=message_id if sent or doubtful else None,
        error=error,
        attempts=attempts,
        unknown=bool(doubtful),
    )
