"""SMTP conversations for the e-mail platform: connect, secure, log in, send, quit.

A mail transaction is driven step by step (MAIL, each RCPT, DATA, the message) so the
caller knows which recipients the server took, and whether a failure came before the
message could have been delivered (safe to try again) or after (`AnswerLostError`).

`SmtpSession` wraps an aiosmtplib client (imported only when a session is made). Its
errors are aiosmtplib's, ssl's and `EmailSetupError`; `errors.diagnose` says what
they mean. `SessionPool` passes an open session from one post to the next while several
are on their way, so a burst of posts logs in once, not once per post.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from daemon.publishers.email.errors import (
    AnswerLostError,
    CaFileError,
    EmailSetupError,
    LoginRefusedError,
    MessageTooLargeError,
    is_size_reply,
    one_line,
    where,
)
from daemon.publishers.email.settings import EmailSettings

SMTP_FIRST_REPLY = 200  # below it (1xx, or aiosmtplib's -1 for a line it cannot read): no answer
QUIT_TIMEOUT = 5.0  # seconds to wait for the answer to QUIT
CLOSE_WAIT = 1.0  # seconds to wait for a closed connection's socket to be released
SMTP_COMPLETED = 250
SMTP_START_INPUT = 354


@dataclass(frozen=True)
class Reply:
    """One SMTP reply: its code and its text."""

    code: int
    text: str

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    def __str__(self) -> str:
        return one_line(f"{self.code} {self.text}")


@dataclass(frozen=True)
class Delivery:
    """Who the server took the message for, and who it refused at RCPT (address → reply)."""

    accepted: tuple[str, ...]
    refused: Mapping[str, Reply]


BeforeData = Callable[[tuple[str, ...]], Awaitable[None]]


class SmtpSession:
    """One connection to the configured server; `end()` is always safe to call."""

    def __init__(self, settings: EmailSettings, tls_context: ssl.SSLContext | None) -> None:
        import aiosmtplib

        self.settings = settings
        self._client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.smtp_port,
            timeout=settings.timeout,
            use_tls=settings.security == "tls",
            start_tls=False,  # done by hand below, so a missing STARTTLS is an error
            tls_context=tls_context,
        )

    async def open(self) -> str:
        """Connect, secure the connection and log in; describe what was negotiated."""
        await self._client.connect()
        if self.settings.security == "starttls":
            await self._starttls()
        if self.settings.username is not None and self.settings.password is not None:
            await self._login(self.settings.username, self.settings.password.get_secret_value())
        return self._describe()

    async def send(
        self, payload: bytes, recipients: Sequence[str], before_data: BeforeData
    ) -> Delivery:
        """One mail transaction: MAIL, RCPT for each of `recipients`, then DATA.

        A failure up to the DATA command leaves nothing delivered, so it may be retried.
        `before_data` gets the accepted recipients right before DATA; once the message has
        been sent, a missing answer is `AnswerLostError` (it may have been delivered).
        """
        from aiosmtplib.protocol import normalize_message_line_endings

        payload = normalize_message_line_endings(payload)  # as sent, so as SIZE counts it
        await self._greeted()
        self._check_size(len(payload))
        await self._mail(len(payload))
        accepted, refused = await self._recipients(recipients)
        if accepted:
            await before_data(accepted)
            await self._data(payload, accepted)
        return Delivery(accepted, refused)

    async def size_limit(self) -> int | None:
        """The largest message the server takes (its SIZE, after EHLO), None for no limit."""
        await self._greeted()
        return _size_limit(self._client.esmtp_extensions.get("size"))

    async def still_open(self) -> bool:
        """Whether the server still answers on this connection (NOOP), to send on it again."""
        import aiosmtplib

        if not self._client.is_connected:
            return False
        try:
            await self._client.noop()
        except (aiosmtplib.SMTPException, OSError):
            return False
        return True

    async def end(self) -> None:
        """Say QUIT if still connected, close, and wait (briefly) for the socket to close.

        A failure to say goodbye changes nothing: the server has answered already.
        """
        import aiosmtplib

        transport = self._client.transport
        try:
            if self._client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await self._client.quit(timeout=min(QUIT_TIMEOUT, self.settings.timeout))
        finally:
            self._client.close()
        await _socket_closed(transport)

    async def _starttls(self) -> None:
        await self._client.ehlo()
        if not self._client.supports_extension("starttls"):
            raise EmailSetupError(
                f"{where(self.settings)} does not offer STARTTLS: use security: tls if it "
                "takes implicit TLS (usually port 465), or security: none on a trusted network"
            )
        await self._client.starttls()

    async def _login(self, username: str, password: str) -> None:
        """Log in with one mechanism, the strongest both sides know (aiosmtplib's order).

        Never a second one after a refusal: each failed login counts against the account
        (fail2ban and the like), and a wrong password is as wrong in any mechanism.
        """
        import aiosmtplib

        await self._client.ehlo()
        if not self._client.supports_extension("auth"):
            raise EmailSetupError(
                f"{where(self.settings)} does not offer a login (AUTH) on this connection: "
                "use security: starttls or tls, or leave out username and password"
            )
        usable = self._client.supported_auth_methods
        if not usable:
            offered = " ".join(self._client.server_auth_methods).upper()
            raise EmailSetupError(
                f"{where(self.settings)} offers only AUTH {offered}; dropcast logs in with "
                "CRAM-MD5, PLAIN or LOGIN"
            )
        mechanism = usable[0]
        authenticate = {
            "cram-md5": self._client.auth_crammd5,
            "plain": self._client.auth_plain,
            "login": self._client.auth_login,
        }[mechanism]
        try:
            await authenticate(username, password)
        except aiosmtplib.SMTPAuthenticationError as error:
            raise LoginRefusedError(error.code, error.message, mechanism.upper()) from None

    async def _greeted(self) -> None:
        """EHLO (HELO if refused) unless done: the server's SIZE is known only after it."""
        import aiosmtplib

        if not self._client.is_ehlo_or_helo_needed:
            return
        try:
            await self._client.ehlo()
        except aiosmtplib.SMTPHeloError:
            await self._client.helo()

    def _check_size(self, size: int) -> None:
        """Refuse at once a message larger than the server's SIZE: nothing is sent."""
        limit = _size_limit(self._client.esmtp_extensions.get("size"))
        if limit is not None and size > limit:
            raise MessageTooLargeError(size, limit)

    async def _mail(self, size: int) -> None:
        import aiosmtplib

        options = [f"SIZE={size}"] if self._client.supports_extension("size") else []
        try:
            await self._client.mail(self.settings.sender_address, options=options)
        except aiosmtplib.SMTPSenderRefused as error:
            if is_size_reply(error.code, error.message):
                reply = one_line(f"{error.code} {error.message}")
                raise MessageTooLargeError(size, None, reply) from error
            raise

    async def _recipients(
        self, recipients: Sequence[str]
    ) -> tuple[tuple[str, ...], dict[str, Reply]]:
        import aiosmtplib

        accepted: list[str] = []
        refused: dict[str, Reply] = {}
        for address in recipients:
            try:
                await self._client.rcpt(address)
            except aiosmtplib.SMTPRecipientRefused as error:
                refused[address] = Reply(error.code, error.message)
            else:
                accepted.append(address)
        return tuple(accepted), refused

    async def _data(self, payload: bytes, accepted: tuple[str, ...]) -> None:
        """DATA, then the message; by hand, to tell a lost DATA from a lost answer to it."""
        import aiosmtplib
        from aiosmtplib.protocol import PERIOD_REGEX

        start = await self._client.execute_command(b"DATA")
        if start.code != SMTP_START_INPUT:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        protocol = self._client.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost before the message")
        try:
            protocol.write(PERIOD_REGEX.sub(b"..", payload) + b".\r\n")
            reply = await protocol.read_response(timeout=self.settings.timeout)
        except Exception as error:  # no answer that can be read: the server may have it
            self._client.close()  # the conversation is out of step now
            raise AnswerLostError(accepted, error) from error
        if reply.code < SMTP_FIRST_REPLY:  # not a reply at all (aiosmtplib's -1: unreadable)
            self._client.close()
            raise AnswerLostError(
                accepted, aiosmtplib.SMTPResponseException(reply.code, reply.message)
            )
        if reply.code == SMTP_COMPLETED:
            return
        if is_size_reply(reply.code, reply.message):
            raise MessageTooLargeError(
                len(payload), None, one_line(f"{reply.code} {reply.message}")
            )
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)

    def _describe(self) -> str:
        security = self.settings.security
        tls = "no TLS"
        if security != "none":
            ssl_object = self._client.get_transport_info("ssl_object")
            version = ssl_object.version() if ssl_object is not None else "?"
            tls = f"{'STARTTLS' if security == 'starttls' else 'implicit TLS'} ({version})"
        user = self.settings.username
        login = f"logged in as {user}" if user is not None else "no login"
        return f"{where(self.settings)}, {tls}, {login}"


class SessionPool:
    """Open sessions, handed from one post to the next while more than one is on its way.

    Every `publish` runs `in_use()`; a session that just sent a message stays open only if
    another post is on its way to take it, and the last post out closes whatever is left,
    so an idle daemon holds no connection. A kept session is checked (NOOP) before it is
    used again; one the server has closed meanwhile is replaced, not counted as a failure.
    """

    def __init__(
        self, settings: EmailSettings, tls: Callable[[], Awaitable[ssl.SSLContext | None]]
    ) -> None:
        self.settings = settings
        self._tls = tls  # made for each new session, so a renewed ca_file is picked up
        self._open: set[SmtpSession] = set()
        self._idle: list[SmtpSession] = []
        self._users = 0

    @contextlib.asynccontextmanager
    async def in_use(self) -> AsyncIterator[None]:
        self._users += 1
        try:
            yield
        finally:
            self._users -= 1
            if self._users == 0:
                with anyio.CancelScope(shield=True):  # say goodbye even when cancelled
                    await self._close_idle()

    async def send(
        self, payload: bytes, recipients: Sequence[str], before_data: BeforeData
    ) -> Delivery:
        session = await self._take()
        try:
            delivery = await session.send(payload, recipients, before_data)
        except BaseException:
            await self.end(session)
            raise
        if self._users > 1:
            self._idle.append(session)
        else:
            await self.end(session)
        return delivery

    async def size_limit(self) -> int | None:
        """The server's SIZE, asked on a session that is then kept for the next `send`."""
        session = await self._take()
        try:
            limit = await session.size_limit()
        except BaseException:
            await self.end(session)
            raise
        self._idle.append(session)  # in use until `in_use` ends: the send takes it
        return limit

    async def open(self) -> tuple[SmtpSession, str]:
        """A new session, connected and logged in, and its description."""
        session = SmtpSession(self.settings, await self._tls())
        self._open.add(session)
        try:
            return session, await session.open()
        except BaseException:
            await self.end(session)
            raise

    async def end(self, session: SmtpSession) -> None:
        self._open.discard(session)
        if session in self._idle:
            self._idle.remove(session)
        await session.end()

    async def close(self) -> None:
        """End every session (the publisher is being closed)."""
        for session in list(self._open):
            await self.end(session)

    async def _close_idle(self) -> None:
        # Only the idle ones: a post that came in meanwhile may be using another session.
        while self._idle:
            await self.end(self._idle.pop())

    async def _take(self) -> SmtpSession:
        while self._idle:
            session = self._idle.pop()
            if await session.still_open():
                return session
            await self.end(session)
        session, _ = await self.open()
        return session


def _size_limit(advertised: str | None) -> int | None:
    """The server's SIZE in bytes (RFC 1870: 0 or no number means no fixed limit)."""
    if advertised is None or not advertised.strip().isdigit():
        return None
    return int(advertised) or None


def make_tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verifying TLS: the system's CAs, or only those in `ca_file` (blocking: it reads files)."""
    try:
        return ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    except (OSError, ssl.SSLError) as error:
        raise CaFileError(
            f"ca_file {ca_file} could not be read ({error}): it must hold PEM certificates"
        ) from None


async def _socket_closed(transport: asyncio.BaseTransport | None) -> None:
    """Let the event loop finish closing the socket (a TLS goodbye takes a round trip)."""
    sock = None if transport is None else transport.get_extra_info("socket")
    if sock is None:
        return
    with anyio.move_on_after(CLOSE_WAIT):
        while sock.fileno() != -1:  # noqa: ASYNC110 - a transport has no "closed" event to wait on
            await anyio.sleep(0.005)
