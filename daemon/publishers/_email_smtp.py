"""One SMTP conversation for the e-mail platform: connect, secure, log in, send, quit.

`SmtpSession` wraps an aiosmtplib client (imported only when a session is made). Its
errors are aiosmtplib's, ssl's and `EmailSetupError`; `_email_errors.diagnose` says what
they mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from daemon.publishers._email_errors import CaFileError, EmailSetupError, one_line, where

if TYPE_CHECKING:
    from daemon.publishers.email import EmailSettings

QUIT_TIMEOUT = 5.0  # seconds to wait for the answer to QUIT
CLOSE_WAIT = 1.0  # seconds to wait for a closed connection's socket to be released


@dataclass(frozen=True)
class Delivery:
    """Who the server accepted the message for, and who it refused (address → its reply)."""

    accepted: tuple[str, ...]
    refused: Mapping[str, str]


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

    async def send(self, payload: bytes) -> Delivery:
        addresses = [parseaddr(recipient)[1] for recipient in self.settings.recipients]
        refused, _ = await self._client.sendmail(self.settings.sender_address, addresses, payload)
        return Delivery(
            accepted=tuple(address for address in addresses if address not in refused),
            refused={address: one_line(str(reply)) for address, reply in refused.items()},
        )

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
        await self._client.ehlo()
        if not self._client.supports_extension("auth"):
            raise EmailSetupError(
                f"{where(self.settings)} does not offer a login (AUTH) on this connection: "
                "use security: starttls or tls, or leave out username and password"
            )
        await self._client.login(username, password)

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
