"""What a failure to send e-mail means for the user: what to fix, and whether to retry.

Connection trouble, timeouts and 4xx replies may get better by themselves, so they are
retried; a refused login (535), a 5xx refusal, a certificate that cannot be verified or a
server without STARTTLS will not, so they are reported at once. No text made here ever
holds the password.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from daemon.retry import RetryAfter
from daemon.secrets import REDACTED

if TYPE_CHECKING:
    from daemon.publishers.email import EmailSettings

E = TypeVar("E", bound=BaseException)


class EmailSetupError(Exception):
    """Raised when the server lacks what the settings ask for (STARTTLS or AUTH)."""


class CaFileError(Exception):
    """Raised when `ca_file` cannot be read as PEM certificates when a post is sent."""


class EmailCheckError(Exception):
    """Raised by `check_connection` when the server cannot be reached or refuses the login."""


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong, in words that say what to fix, and whether a retry may help."""

    message: str
    retry: bool


def retry_decision(settings: EmailSettings) -> Callable[[Exception], RetryAfter | None]:
    """The `decide` function for `call_with_retries`: retry what may get better."""

    def decide(error: Exception) -> RetryAfter | None:
        return RetryAfter() if diagnose(error, settings).retry else None

    return decide


def diagnose(error: BaseException, settings: EmailSettings) -> Diagnosis:
    """Say what `error` means for this server and these settings; never shows the password."""
    for explain in (_setup, _tls, _reply, _refusals, _network):
        found = explain(error, settings)
        if found is not None:
            return Diagnosis(_scrub(found.message, settings), found.retry)
    return Diagnosis(_scrub(f"{type(error).__name__}: {error}", settings), retry=False)


def _setup(error: BaseException, settings: EmailSettings) -> Diagnosis | None:
    if isinstance(error, (EmailSetupError, CaFileError)):
        return Diagnosis(str(error), retry=False)
    return None


def _tls(error: BaseException, settings: EmailSettings) -> Diagnosis | None:
    server = where(settings)
    unverified = _in_chain(error, ssl.SSLCertVerificationError)
    if unverified is not None:
        return Diagnosis(
            f"the TLS certificate of {server} could not be verified "
            f"({unverified.verify_message}): check host; if the server uses a private CA, "
            "set ca_file to that CA's certificate",
            retry=False,
        )
    failed = _in_chain(error, ssl.SSLError)
    if failed is not None:
        return Diagnosis(
            f"TLS with {server} failed ({failed.reason or failed}): check security and port "
            "(tls is implicit TLS, usually port 465; starttls is usually port 587)",
            retry=False,
        )
    return None


def _reply(error: BaseException, settings: EmailSettings) -> Diagnosis | None:
    import aiosmtplib

    if not isinstance(error, aiosmtplib.SMTPResponseException):
        return None
    reply = one_line(f"{error.code} {error.message}")
    temporary = 400 <= error.code < 500
    if temporary:
        return Diagnosis(f"{where(settings)} answered {reply} (a temporary failure)", True)
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        message = (
            f"{where(settings)} refused the login of {settings.username} ({reply}): "
            "check username and password (some providers need an app password)"
        )
    elif isinstance(error, aiosmtplib.SMTPSenderRefused):
        message = (
            f"{where(settings)} refused the sender {error.sender} ({reply}): check sender "
            "(most servers want the address you log in with)"
        )
    else:
        message = f"{where(settings)} refused the message ({reply})"
        if error.code == 552:
            message += ": if it is too large, lower max_attachment_mb"
    return Diagnosis(message, retry=False)


def _refusals(error: BaseException, settings: EmailSettings) -> Diagnosis | None:
    import aiosmtplib

    if not isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return None
    replies = ", ".join(
        f"{refusal.recipient} ({one_line(f'{refusal.code} {refusal.message}')})"
        for refusal in error.recipients
    )
    temporary = all(400 <= refusal.code < 500 for refusal in error.recipients)
    hint = "a temporary failure" if temporary else "check recipients"
    return Diagnosis(f"{where(settings)} refused every recipient: {replies}: {hint}", temporary)


def _network(error: BaseException, settings: EmailSettings) -> Diagnosis | None:
    import aiosmtplib

    server = where(settings)
    if isinstance(error, TimeoutError):  # SMTPTimeoutError is one too
        return Diagnosis(f"{server} did not answer within {settings.timeout:g} s", retry=True)
    if isinstance(error, aiosmtplib.SMTPServerDisconnected):
        return Diagnosis(f"{server} closed the connection ({one_line(str(error))})", True)
    if isinstance(error, aiosmtplib.SMTPConnectError | OSError):
        cause = _in_chain(error, OSError, skip=aiosmtplib.SMTPException)
        reason = _os_reason(cause) if cause is not None else one_line(str(error))
        return Diagnosis(
            f"could not connect to {server} ({reason}): check host and port, and that the "
            "server is up",
            retry=True,
        )
    return None


def _in_chain(
    error: BaseException, kind: type[E], skip: type[BaseException] | None = None
) -> E | None:
    """The first exception of `kind` among `error` and its `__cause__`s (not those of `skip`)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, kind) and not (skip and isinstance(current, skip)):
            return current
        current = current.__cause__
    return None


def _os_reason(error: OSError) -> str:
    if error.errno is not None and error.errno > 0:
        return os.strerror(error.errno)
    return one_line(str(error))


def where(settings: EmailSettings) -> str:
    return f"{settings.host}:{settings.smtp_port}"


def one_line(text: str) -> str:
    return " ".join(text.split())


def _scrub(text: str, settings: EmailSettings) -> str:
    """Belt and braces: the global redactor hides the password too, once config is loaded."""
    if settings.password is not None and settings.password.get_secret_value():
        text = text.replace(settings.password.get_secret_value(), REDACTED)
    return text
