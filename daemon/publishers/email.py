"""The `email` platform: each post goes out as one e-mail, the caption as its body and the
image attached (this is how mail-to-post gateways such as FetLife's take posts).

Posts on their way at the same time share one SMTP connection (the last one says QUIT),
TLS verified by default. Connection failures, timeouts and
4xx replies are retried with backoff; a refused login, a 5xx refusal or a certificate that
cannot be verified is not, and the result says what to fix. aiosmtplib is imported only
when a message is sent, so a disabled platform costs nothing.
"""

from __future__ import annotations

import ssl
from dataclasses import replace
from datetime import datetime
from email.utils import parseaddr
from typing import Annotated, Literal

import anyio
import structlog
from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator

from daemon.post import Post
from daemon.publishers._email_errors import (
    EmailCheckError,
    diagnose,
    retry_decision,
)
from daemon.publishers._email_image import Attachment, ImageTooLargeError, load_attachment
from daemon.publishers._email_message import (
    BODY_FIELDS,
    SUBJECT_FIELDS,
    as_smtp_bytes,
    build_message,
    check_template,
)
from daemon.publishers._email_smtp import Delivery, SessionPool, make_tls_context
from daemon.publishers.base import Publisher, PublisherContext, PublishResult
from daemon.retry import GaveUpError, RetryPolicy, call_with_retries
from daemon.settings import ConfigPath, PlatformSettings

log = structlog.get_logger("dropcast.email")

Security = Literal["starttls", "tls", "none"]
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "tls": 465, "none": 25}
BYTES_PER_MB = 1_000_000


def _as_list(value: object) -> object:
    """`recipients: post@example.com` means a list of one."""
    return [value] if isinstance(value, str) else value


class EmailSettings(PlatformSettings):
    """The keys under `platforms.email`."""

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Security = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    recipients: Annotated[tuple[str, ...], BeforeValidator(_as_list)] = Field(min_length=1)
    subject: str = "{title}"
    body: str = "caption"
    html: bool = False
    timeout: float = Field(default=60.0, gt=0)
    ca_file: ConfigPath | None = None
    max_attachment_mb: float = Field(default=20.0, gt=0)

    @property
    def smtp_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.security]

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]

    @field_validator("sender")
    @classmethod
    def _check_sender(cls, value: str) -> str:
        check_address(value)
        return value

    @field_validator("recipients")
    @classmethod
    def _check_recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_address(address) for address in value)

    @field_validator("subject")
    @classmethod
    def _check_subject(cls, value: str) -> str:
        return check_template(value, SUBJECT_FIELDS)

    @field_validator("body")
    @classmethod
    def _check_body(cls, value: str) -> str:
        return value if value == "caption" else check_template(value, BODY_FIELDS)

    @field_validator("ca_file")
    @classmethod
    def _check_ca_file(cls, value: ConfigPath | None) -> ConfigPath | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value} (the CA certificate, in PEM format)")
        return value

    @model_validator(mode="after")
    def _check_login(self) -> EmailSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: give both or neither")
        return self


def check_address(value: str) -> str:
    """Raise ValueError unless `value` is one plain address (`a@b.c` or `Name <a@b.c>`)."""
    _, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    broken = any(char.isspace() for char in address) or not value.isprintable()
    if broken or not (at and local and domain):
        raise ValueError(f"{value!r} is not an e-mail address (expected name@example.com)")
    if not address.isascii():
        raise ValueError(f"{value!r}: write the address in ASCII (the domain in punycode)")
    return value


class EmailPublisher(Publisher[EmailSettings]):
    """Sends each post as an e-mail through one SMTP server."""

    platform_name = "email"
    settings_model = EmailSettings

    def __init__(
        self,
        settings: EmailSettings,
        context: PublisherContext,
        *,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__(settings, context)
        self.retry_policy = retry_policy or RetryPolicy()
        self._sessions = SessionPool(settings, self._tls_context)

    async def publish(self, post: Post) -> PublishResult:
        async with self._sessions.in_use():
            return await self._publish(post)

    async def _publish(self, post: Post) -> PublishResult:
        try:
            message_id, payload, attachment = await anyio.to_thread.run_sync(self._prepare, post)
        except ImageTooLargeError as error:
            return PublishResult.failure(str(error))
        _log_resize(attachment)
        try:
            delivery, attempts = await call_with_retries(
                lambda: self._sessions.send(payload),
                retry_decision(self.settings),
                self.retry_policy,
            )
        except GaveUpError as error:
            problem = diagnose(error.error, self.settings).message
            return PublishResult.failure(problem, attempts=error.attempts)
        return replace(_result(message_id, delivery, attempts), notes=_resize_notes(attachment))

    async def check_connection(self) -> str:
        try:
            session, description = await self._sessions.open()
        except Exception as error:
            raise EmailCheckError(diagnose(error, self.settings).message) from None
        await self._sessions.end(session)
        return description

    async def close(self) -> None:
        await self._sessions.close()

    def _prepare(self, post: Post) -> tuple[str, bytes, Attachment]:
        """Build the message (blocking: images are read and maybe re-encoded)."""
        limit = int(self.settings.max_attachment_mb * BYTES_PER_MB)
        attachment = load_attachment(post.image, limit)
        caption = post.caption_for(self.platform_name)
        now = datetime.now().astimezone()
        message = build_message(self.settings, post.stem, caption, attachment, now)
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


def _result(message_id: str, delivery: Delivery, attempts: int) -> PublishResult:
    if not delivery.refused:
        return PublishResult(ok=True, remote_id=message_id, attempts=attempts)
    refused = ", ".join(f"{address} ({reply})" for address, reply in delivery.refused.items())
    accepted = ", ".join(delivery.accepted)
    log.warning(
        "email.recipients_refused", refused=list(delivery.refused), accepted=list(delivery.accepted)
    )
    error = (
        f"the server refused {refused}; the message went to {accepted} only: "
        "check the refused addresses in recipients"
    )
    return PublishResult(ok=False, remote_id=message_id, error=error, attempts=attempts)
