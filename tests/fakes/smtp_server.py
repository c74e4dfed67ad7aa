"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, running in its own thread and loop.

It speaks plain SMTP, STARTTLS or implicit TLS (with a certificate from a `trustme` CA),
checks AUTH LOGIN / PLAIN (and CRAM-MD5 when asked) against known users (a wrong password
gets 535), and can misbehave on purpose: quote the AUTH arguments back in its 535, refuse
some recipients, answer MAIL or DATA with a 4xx/5xx reply, stall before answering MAIL, or
keep a message and answer it late. Every message it accepts is kept in `received`.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from types import TracebackType
from typing import Any, Literal

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Security = Literal["none", "starttls", "tls"]
MECHANISMS = frozenset({"LOGIN", "PLAIN"})  # aiosmtpd's built-in AUTH mechanisms
ALL_MECHANISMS = MECHANISMS | {"CRAM-MD5"}  # CRAM-MD5 is _Handler's own, offered on request
CRAM_CHALLENGE = b"<1896.697170952@localhost>"
DATA_SIZE_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted, as it arrived."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    login: str | None
    tls: bool

    def parsed(self) -> EmailMessage:
        """The message as a mailbox would store it: line ends are local, not SMTP's CRLF."""
        content = self.content.replace(b"\r\n", b"\n")
        message = BytesParser(policy=policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        return message


def file_names(part: EmailMessage) -> tuple[str | None, str | None]:
    """An attachment's plain `filename=` and its decoded RFC 2231 `filename*=`, as sent.

    Python's own `get_filename()` prefers the plain one when both are there, and its
    modern parser keeps only that one, so the raw header is read with the classic one.
    """
    classic = Message()
    for name, value in part.raw_items():
        if name.lower() == "content-disposition":
            classic["Content-Disposition"] = value
    plain: str | None = None
    extended: str | None = None
    for name, value in classic.get_params(header="content-disposition") or []:
        if name != "filename":
            continue
        if isinstance(value, tuple):
            extended = collapse_rfc2231_value(value)
        else:
            plain = value
    return plain, extended


@dataclass
class Behaviour:
    """What the server does; tests set it before (or while) the client talks to it."""

    users: dict[str, str] = field(default_factory=dict)  # login -> password
    auth_reply: str | None = None  # the answer to a wrong password (aiosmtpd's 535 if None)
    # Answer a wrong password with a 535 that quotes the AUTH arguments as the client sent
    # them (base64), as some servers do: what a client must never store verbatim.
    echo_auth: bool = False
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> reply, "550 ..."
    mail_replies: list[str] = field(default_factory=list)  # answers to MAIL, used up in order
    data_replies: list[str] = field(default_factory=list)  # answers to DATA, used up in order
    stall_seconds: float = 0.0  # wait before answering MAIL
    # Extra waits before answering the MAIL commands of these numbers (from 1, in the order
    # the server saw them): to stop a client in the middle of a post's messages.
    mail_stalls: dict[int, float] = field(default_factory=dict)
    answer_delay: float = 0.0  # keep the message, then wait this long before answering it
    garbled_answer: bool = False  # keep the message, then answer with a line that is no reply


class _Controller(Controller):
    """aiosmtpd's threaded controller, remembering each connection so `stop` can close it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: list[SMTP] = []

    def factory(self) -> SMTP:
        smtp: SMTP = super().factory()  # type: ignore[no-untyped-call]
        self.connections.append(smtp)
        return smtp


class FakeSMTPServer:
    """An SMTP server on 127.0.0.1:`port`; use it as a context manager (or start/stop)."""

    def __init__(
        self,
        port: int,
        *,
        security: Security = "none",
        certificate: trustme.LeafCert | None = None,
        mechanisms: frozenset[str] = MECHANISMS,
        behaviour: Behaviour | None = None,
        size_limit: int = DATA_SIZE_LIMIT,  # advertised as SIZE
    ) -> None:
        if security != "none" and certificate is None:
            raise ValueError(f"security {security!r} needs a certificate")
        self.port = port
        self.security = security
        self.behaviour = behaviour or Behaviour()
        self.received: list[ReceivedMessage] = []
        self.logins: list[tuple[str, str]] = []  # (mechanism, login) that succeeded
        self.failed_logins: list[tuple[str, str]] = []
        self.echoed: list[str] = []  # what `echo_auth` quoted back, one entry per refusal
        self.mail_commands = 0  # MAIL FROM commands seen: one per delivery attempt
        self._controller = _Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=port,
            server_hostname="localhost",
            data_size_limit=size_limit,
            authenticator=self._authenticate,
            auth_exclude_mechanism=sorted(ALL_MECHANISMS - mechanisms),
            # aiosmtpd does not see implicit TLS as TLS for AUTH; _Handler enforces the login.
            auth_require_tls=security == "starttls",
            **self._tls_arguments(security, certificate),
        )

    def __enter__(self) -> FakeSMTPServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def connections_made(self) -> int:
        return len(self._controller.connections)

    @property
    def connections_open(self) -> int:
        return sum(smtp.transport is not None for smtp in self._controller.connections)

    def drop_connections(self) -> None:
        """Hang up on every client, as a server does to connections idle for too long."""

        async def hang_up() -> None:
            for smtp in self._controller.connections:
                if smtp.transport is not None:
                    smtp.transport.close()

        asyncio.run_coroutine_threadsafe(hang_up(), self._controller.loop).result(timeout=10)

    def start(self) -> None:
        self._controller.start()
        self._controller.connections.clear()  # the controller's own test connection

    def stop(self) -> None:
        """Close every connection (also stalled ones) and the listener, then end the thread."""
        loop = self._controller.loop
        asyncio.run_coroutine_threadsafe(self._close_connections(), loop).result(timeout=10)
        self._controller.stop()

    async def _close_connections(self) -> None:
        for smtp in self._controller.connections:
            if smtp.transport is not None:
                smtp.transport.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _tls_arguments(security: Security, certificate: trustme.LeafCert | None) -> dict[str, Any]:
        if certificate is None or security == "none":
            return {}
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        if security == "tls":
            return {"ssl_context": context}
        return {"tls_context": context, "require_starttls": True}

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login = data.login.decode()
        if login in self.behaviour.users and self.behaviour.users[login] == data.password.decode():
            self.logins.append((mechanism, login))
            return AuthResult(success=True, auth_data=data)
        self.failed_logins.append((mechanism, login))
        # handled=False: aiosmtpd answers `message`, or its own 535 when that is None.
        return AuthResult(success=False, handled=False, message=self._refusal(mechanism, data))

    def _refusal(self, mechanism: str, data: LoginPassword) -> str | None:
        if not self.behaviour.echo_auth:
            return self.behaviour.auth_reply
        return self._echo(" ".join(sent_arguments(mechanism, data)))

    def _echo(self, arguments: str) -> str:
        self.echoed.append(arguments)
        return f"535 5.7.8 Authentication failed for {arguments}"

    def check_cram_md5(self, response: bytes) -> AuthResult:
        """Check a CRAM-MD5 answer (`login hex-digest`) against the known users' passwords."""
        login, _, digest = response.decode().partition(" ")
        password = self.behaviour.users.get(login)
        expected = (
            hmac.new(password.encode(), CRAM_CHALLENGE, "md5").hexdigest() if password else None
        )
        if expected is not None and hmac.compare_digest(expected, digest):
            self.logins.append(("CRAM-MD5", login))
            return AuthResult(success=True, auth_data=LoginPassword(login.encode(), b""))
        self.failed_logins.append(("CRAM-MD5", login))
        message = self.behaviour.auth_reply
        if self.behaviour.echo_auth:
            message = self._echo(base64.b64encode(response).decode())
        return AuthResult(success=False, handled=False, message=message)


def sent_arguments(mechanism: str, data: LoginPassword) -> list[str]:
    """The base64 arguments a client sends for `mechanism` (aiosmtplib's exact bytes)."""
    if mechanism == "PLAIN":
        return [base64.b64encode(b"\0" + data.login + b"\0" + data.password).decode()]
    return [base64.b64encode(data.login).decode(), base64.b64encode(data.password).decode()]


class _Handler:
    """aiosmtpd's hooks; they run in the server's thread."""

    def __init__(self, server: FakeSMTPServer) -> None:
        self.server = server

    async def auth_CRAM__MD5(self, smtp: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        """CRAM-MD5 (RFC 2195): aiosmtpd has no built-in one; offered only when asked for."""
        response = await smtp.challenge_auth(CRAM_CHALLENGE)
        if not isinstance(response, bytes):
            return AuthResult(success=False, handled=True)
        try:
            return self.server.check_cram_md5(response)
        except UnicodeDecodeError:
            return AuthResult(success=False, handled=False)

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook names
        self,
        smtp: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        self.server.mail_commands += 1
        behaviour = self.server.behaviour
        stall = behaviour.mail_stalls.get(self.server.mail_commands, 0.0)
        await asyncio.sleep(behaviour.stall_seconds + stall)
        if behaviour.users and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if behaviour.mail_replies:
            return behaviour.mail_replies.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self,
        smtp: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.server.behaviour.refuse.get(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        behaviour = self.server.behaviour
        if behaviour.data_replies:
            return behaviour.data_replies.pop(0)
        assert isinstance(envelope.content, bytes)
        assert envelope.mail_from is not None
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        self.server.received.append(
            ReceivedMessage(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                content=envelope.original_content or envelope.content,
                login=login,
                tls=smtp.transport is not None
                and smtp.transport.get_extra_info("sslcontext") is not None,
            )
        )
        await asyncio.sleep(behaviour.answer_delay)  # kept already: a late answer is no refusal
        return (
            "Message accepted, thank you"
            if behaviour.garbled_answer
            else "250 2.0.0 Message accepted"
        )


@contextmanager
def smtp_servers(port: int, **defaults: Any) -> Iterator[Callable[..., FakeSMTPServer]]:
    """A starter of fake SMTP servers on `port` (each with `defaults` unless told otherwise),
    every one it started stopped when the block ends."""
    servers: list[FakeSMTPServer] = []

    def start(**kwargs: Any) -> FakeSMTPServer:
        server = FakeSMTPServer(port, **{**defaults, **kwargs})
        server.start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
