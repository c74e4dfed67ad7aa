"""What a failure to send e-mail means for the user: what to fix, and whether to retry.

Connection trouble, timeouts and 4xx replies before the message was sent may get better
by themselves, so they are retried; a refused login (535), a 5xx refusal, a message too
large, a certificate that cannot be verified or a server without STARTTLS will not, so
they are reported at once. A lost answer after the message was sent is never retried: the
message may have been delivered. No text made here ever holds the password.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from daemon.publishers.email.settings import EmailSettings
from daemon.secrets import Redactor

E = TypeVar("E", bound=BaseException)


class EmailSetupError(Exception):
    """Raised when the server lacks what the settings ask for (STARTTLS or AUTH)."""


class CaFileError(Exception):
    """Raised when `ca_file` cannot be read as PEM certificates when a post is sent."""


class EmailCheckError(Exception):
    """Raised by `check_connection` when the server cannot be reached or refuses the login."""


class LoginRefusedError(Exception):
    """Raised when the server refuses the login: its codes only, and the one mechanism tried.

    The text of a reply to AUTH is dropped here: some servers quote the client's AUTH
    argument back in it, and that is the password in base64.
    """

    def __init__(self, code: int, message: str, mechanism: str) -> None:
        words = message.split(maxsplit=1)
        self.status = words[0] if words and _ANY_STATUS.fullmatch(words[0]) else None
        self.code, self.mechanism = code, mechanism
        super().__init__(self.reply)

    @property
    def reply(self) -> str:
        """`535 5.7.8`: the reply code and its enhanced status code (RFC 3463), if any."""
        return f"{self.code} {self.status}" if self.status else str(self.code)


def login_refused(error: BaseException | None) -> bool:
    """Whether the server refused the login for good: the owner must fix it (an alert)."""
    return isinstance(error, LoginRefusedError) and error.code >= 500


class MessageTooLargeError(Exception):
    """Raised when the message is larger than the server takes: by its SIZE, or its reply."""

    def __init__(self, size: int, limit: int | None, reply: str | None = None) -> None:
        super().__init__(reply or f"{size} bytes, over the server's SIZE {limit}")
        self.size, self.limit, self.reply = size, limit, reply


class AnswerLostError(Exception):
    """Raised when the whole message was sent and no answer came: it may have been delivered."""

    def __init__(self, recipients: Sequence[str], error: Exception) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.recipients = tuple(recipients)
        self.error = error


# Enhanced status codes (RFC 3463) that mean "too large": X.3.4 for the system, X.2.3 for
# the mailbox's own limit.
_SIZE_STATUS = re.compile(r"[45]\.(3\.4|2\.3)")
_ANY_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")


def is_size_reply(code: int, text: str) -> bool:
    """Whether a reply says the message is too large (552 means that unless it says else)."""
    words = text.split(maxsplit=1)
    status = words[0] if words else ""
    if _SIZE_STATUS.fullmatch(status):
        return True
    return code == 552 and not _ANY_STATUS.fullmatch(status)


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong, in words that say what to fix, and whether a retry may help."""

    message: str
    retry: bool


def diagnose(error: BaseException, settings: EmailSettings) -> Diagnosis:
    """Say what `error` means for this server and these settings; never shows the password."""
    for explain in (_setup, _lost, _too_large, _login, _tls, _reply, _refusals, _network):
        found = explain(error, settings)
        if found is not None:
            return Diagnosis(_scrub(found.message, settings), found.retry)
    return Diagnosis(_scrub(f"{type(error).__name__}: {error}", settings), retry=False)


def _setup(error: BaseException, settings: EmailSettings) -> Diagnosis | None:
    if isinstance(error, (EmailSetupError, CaFileError)):
        return Diagnosis(str(error), retry=False)
    return None


def _lost(error: BaseException, settings: EmailSettings) -> Diagnosis | None:
    if not isinstance(error, AnswerLostError):
        return None
    import aiosmtplib

    server = where(settings)
    if isinstance(error.error, TimeoutError):
        silence = f"{server} did not answer within {settings.timeout:g} s"
    elif isinstance(error.error, aiosmtplib.SMTPServerDisconnected):
        silence = f"{server} closed the connection ({one_line(str(error.error))})"
    else:
        silence = f"the connection to {server} failed ({one_line(str(error.error))})"
    return Diagnosis(
        f"{silence} after the whole message was sent to {', '.join(error.recipients)}: "
        "it may have been delivered, so it is not sent again by itself (dropcast retry "
        "sends it again once you have checked)",
        retry=False,
    )


def _too_large(error: BaseException, settings: EmailSettings) -> Diagnosis | None:
    if not isinstance(error, MessageTooLargeError):
        return None
    said = f"it answered {error.reply}" if error.reply else "by its SIZE"
    limit = f"; it takes at most {error.limit:,} bytes" if error.limit else ""
    return Diagnosis(
        f"the message ({error.size:,} bytes) is too large for {where(settings)} ({said}"
        f"{limit}): {size_advice(settings)}",
        retry=False,
    )


def size_advice(settings: EmailSettings) -> str:
    return (
        f"lower max_attachment_mb (now {settings.max_attachment_mb:g}; base64 makes the "
        "attachment a third larger on the way) below the server's limit, or raise that limit"
    )


def _login(error: BaseException, settings: EmailSettings) -> Diagnosis | None:
    if not isinstance(error, LoginRefusedError):
        return None
    if 400 <= error.code < 500:
        return Diagnosis(f"{where(settings)} answered {error.reply} to the login (temporary)", True)
    return Diagnosis(
        f"{where(settings)} refused the login of {settings.username} with AUTH "
        f"{error.mechanism} ({error.reply}): check username and password (some providers "
        "need an app password)",
        retry=False,
    )


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
    if isinstance(error, aiosmtplib.SMTPSenderRefused):
        message = (
            f"{where(settings)} refused the sender {error.sender} ({reply}): check sender "
            "(most servers want the address you log in with)"
        )
    else:
        message = f"{where(settings)} refused the message ({reply})"
    return Diagnosis(message, retry=False)


class RecipientsDeferredError(Exception):
    """Raised when the server deferred some recipients (4xx at RCPT): worth another try."""

    def __init__(self, addresses: Sequence[str]) -> None:
        super().__init__(f"deferred: {', '.join(addresses)}")
        self.addresses = tuple(addresses)


def _refusals(error: BaseException, settings: EmailSettings) -> Diagnosis | None:
    if not isinstance(error, RecipientsDeferredError):
        return None
    return Diagnosis(f"{where(settings)} deferred {', '.join(error.addresses)}", retry=True)


def recipient_refusal(address: str, code: int, text: str, settings: EmailSettings) -> str:
    """What a refusal at RCPT means, for the record of that recipient."""
    reply = one_line(f"{code} {text}")
    if 400 <= code < 500:
        return f"the server deferred {address} (temporary, {reply}): tried again later"
    if is_size_reply(code, text):
        return f"the server refused {address} ({reply}): too large: {size_advice(settings)}"
    return f"the server refused {address} ({reply}): check recipients"


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
    if settings.password is None:
        return text
    redactor = Redactor()
    redactor.replace_secrets([settings.password.get_secret_value()])
    return redactor.redact(text)
