"""`EmailPublisher`: one post, one message, sent to each recipient that does not have it yet.

Each recipient is one destination in the post's progress: a retry (the daemon's, or
`dropcast retry`) sends only to the recipients that are not `sent`, and a message whose
answer was lost after it was sent leaves its recipients `unknown`, never re-sent by
itself. An album's images go in one message, in order; one larger than the server's SIZE
is split into messages "(1/2)", "(2/2)", each recipient's each message a destination of its
own ("post@example.com (1/2)"), so a crash resumes with the message that did not arrive.
Posts on their way at the same time share one SMTP connection (the last one says
QUIT), TLS verified by default. Connection failures, timeouts and 4xx replies before the
message was sent are retried with backoff (`retry_on`; the section's `max_retries`,
`retry_base_delay` and `retry_max_delay` say how often); a refused login, a 5xx refusal, a message too
large or a certificate that cannot be verified is not, and the result says what to fix.
aiosmtplib is imported only when a message is sent, so a disabled platform costs nothing.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import parseaddr

import anyio
import structlog

from daemon.post import Post
from daemon.progress import Destination, Destinations
from daemon.publisher import Publisher, PublisherContext, PublishResult
from daemon.publishers.email.album import describe_split, part_name, split_to_fit, split_total
from daemon.publishers.email.errors import EmailCheckError, diagnose, login_refused
from daemon.publishers.email.image import Attachment, ImageTooLargeError, load_attachment
from daemon.publishers.email.message import (
    Content,
    as_smtp_bytes,
    build_message,
    image_part_size,
)
from daemon.publishers.email.sending import NO_MARK, MessageSending, message_id_of, result_of
from daemon.publishers.email.settings import EmailSettings
from daemon.publishers.email.smtp import SessionPool, make_tls_context
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
        if all(known.get(address, NO_MARK).accepted for address in self._recipients):
            remote_id = message_id_of(known, self._recipients)
            return PublishResult(ok=True, remote_id=remote_id, attempts=0)
        try:
            attachments = await anyio.to_thread.run_sync(self._attachments, post)
        except ImageTooLargeError as error:
            return PublishResult.failure(str(error))
        for attachment in attachments:
            _log_resize(attachment)
        plan = await self._plan(post, attachments, known)
        if isinstance(plan, PublishResult):
            return plan
        result = await self._send_all(post, attachments, plan.groups, destinations)
        return replace(result, notes=(*_resize_notes(attachments), *plan.notes))

    async def _plan(
        self, post: Post, attachments: Sequence[Attachment], known: Mapping[str, Destination]
    ) -> _Plan | PublishResult:
        """One message, unless the album is larger than the server's SIZE: then several."""
        if len(attachments) == 1:
            return _Plan((range(1),))
        try:
            limit, _ = await self.call(self._sessions.size_limit)
        except GaveUpError as error:
            message = diagnose(error.error, self.settings).message
            owner = login_refused(error.error)
            return PublishResult(False, error=message, attempts=error.attempts, needs_owner=owner)
        sizes, whole = await anyio.to_thread.run_sync(self._measure, post, attachments)
        groups = split_to_fit(sizes, whole, limit)
        conflict = _split_conflict(known, len(groups))
        if conflict is not None:
            return PublishResult.failure(conflict)
        if len(groups) == 1 or limit is None:
            return _Plan(tuple(groups))
        return _Plan(tuple(groups), (describe_split(groups, limit),))

    async def _send_all(
        self,
        post: Post,
        attachments: Sequence[Attachment],
        groups: Sequence[range],
        destinations: Destinations,
    ) -> PublishResult:
        """Each message in order; one not delivered to everyone holds back those after it."""
        total, attempts, first_id = len(groups), 0, None
        for number, group in enumerate(groups, start=1):
            content = Content(
                attachments=tuple(attachments[index] for index in group),
                alts=tuple(post.alt_for(index) for index in group),
                content_warning=post.content_warning,
                part=(number, total),
            )
            names = {address: part_name(address, number, total) for address in self._recipients}
            result = await self._send_message(post, content, names, destinations)
            attempts += result.attempts
            first_id = first_id or result.remote_id
            if not result.ok:
                return replace(result, attempts=attempts)
        return PublishResult(ok=True, remote_id=first_id, attempts=attempts)

    async def _send_message(
        self, post: Post, content: Content, names: Mapping[str, str], destinations: Destinations
    ) -> PublishResult:
        """One message to each recipient whose destination (`names`) does not have it yet.

        A recipient sent it later gets the same Message-ID as the ones that have it.
        """
        known = await destinations.known()
        wanted = list(names.values())
        message_id = message_id_of(known, wanted)
        if all(known.get(name, NO_MARK).accepted for name in wanted):
            return PublishResult(ok=True, remote_id=message_id, attempts=0)
        message = await anyio.to_thread.run_sync(self._build, post, content, message_id)
        sending = MessageSending(self._sessions, destinations, names, message)
        problem: Exception | None = None
        try:
            _, attempts = await self.call(sending.attempt)
        except GaveUpError as error:
            problem, attempts = error.error, error.attempts
        known = await destinations.known()
        return result_of(self.settings, known, wanted, message[0], attempts, problem)

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

    def _attachments(self, post: Post) -> tuple[Attachment, ...]:
        """Each image as attached (blocking: read, and re-encoded if over max_attachment_mb)."""
        limit = int(self.settings.max_attachment_mb * BYTES_PER_MB)
        return tuple(load_attachment(image, limit) for image in post.images)

    def _build(self, post: Post, content: Content, message_id: str | None) -> tuple[str, bytes]:
        """The message's Message-ID and its bytes as sent (blocking: base64 of the images)."""
        caption = post.caption_for(self.platform_name)
        now = datetime.now().astimezone()
        message = build_message(self.settings, post.stem, caption, content, now, message_id)
        return str(message["Message-ID"]), as_smtp_bytes(message)

    def _measure(self, post: Post, attachments: Sequence[Attachment]) -> tuple[list[int], int]:
        """Each image part's size, and the size of the message with them all (blocking)."""
        content = Content(tuple(attachments), post.alt, post.content_warning)
        sizes = [
            image_part_size(attachment, post.alt_for(index))
            for index, attachment in enumerate(attachments)
        ]
        return sizes, len(self._build(post, content, None)[1])

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


def _resize_notes(attachments: Sequence[Attachment]) -> tuple[str, ...]:
    """A note for each re-encoded image (named by its number in an album)."""
    notes = []
    for number, attachment in enumerate(attachments, start=1):
        if attachment.resized_from is None:
            continue
        which = "image" if len(attachments) == 1 else f"image {number} ({attachment.filename})"
        width, height = attachment.size
        notes.append(
            f"{which} re-encoded to fit max_attachment_mb: {attachment.resized_from:,} bytes → "
            f"{len(attachment.data):,} bytes ({width}x{height}, JPEG quality {attachment.quality})"
        )
    return tuple(notes)


@dataclass(frozen=True)
class _Plan:
    """How a post goes out: the images of each message, in order, and what to tell the owner."""

    groups: tuple[range, ...]
    notes: tuple[str, ...] = ()


def _split_conflict(known: Mapping[str, Destination], total: int) -> str | None:
    """Why the post cannot go out as `total` messages: some recipient may already have it
    in another split (the server's SIZE changed meanwhile), which would repeat images."""
    wanted = None if total == 1 else total
    earlier = {
        split_total(name) or 1
        for name, mark in known.items()
        if (mark.accepted or mark.in_doubt) and split_total(name) != wanted
    }
    if not earlier:
        return None
    return (
        f"the album went out as {' or '.join(map(str, sorted(earlier)))} message(s) before and "
        f"would be {total} now (the server's SIZE changed): sending it again could repeat "
        "images; send the rest by hand or restore the server's limit"
    )
