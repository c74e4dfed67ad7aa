"""Alerts by e-mail, through an SMTP server with aiosmtplib; TLS is always verified.

The core never imports a platform, so this is not the e-mail platform's sender: alerts are
short plain-text messages, one at a time, and need none of its album or progress rules.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import anyio

from daemon.alerts.message import Alert, AlertSendError
from daemon.alerts.settings import EmailAlertSettings


class EmailAlerts:
    """One server and its recipients."""

    def __init__(self, settings: EmailAlertSettings) -> None:
        self.settings = settings
        self.name = f"e-mail to {', '.join(settings.to)}"
        self.timeout = settings.timeout
        self.where = f"{settings.host}:{settings.smtp_port}"

    async def send(self, alert: Alert) -> None:
        import aiosmtplib

        settings = self.settings
        context = await anyio.to_thread.run_sync(self._tls_context)  # it reads files
        try:
            await aiosmtplib.send(
                self._message(alert),
                hostname=settings.host,
                port=settings.smtp_port,
                username=settings.username,
                password=None
                if settings.password is None
                else settings.password.get_secret_value(),
                use_tls=settings.security == "tls",
                start_tls=settings.security == "starttls",
                tls_context=context,
                timeout=settings.timeout,
            )
        except aiosmtplib.SMTPAuthenticationError as error:
            # Its text is dropped: some servers quote the AUTH argument (the password) in it.
            raise AlertSendError(
                f"{self.where} refused the login of {settings.username} ({error.code}): "
                "check username and password under alerts.to (email)"
            ) from None
        except aiosmtplib.SMTPResponseException as error:
            raise AlertSendError(
                f"{self.where} answered {error.code} {_one_line(error.message)}"
            ) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            raise AlertSendError(f"could not send through {self.where}: {_reason(error)}") from None

    def _message(self, alert: Alert) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = ", ".join(self.settings.to)
        message["Subject"] = f"dropcast: {alert.subject}"
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(
            domain=self.settings.sender.rpartition("@")[2].strip("> ")
        )
        message.set_content(alert.body)
        return message

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.settings.security == "none":
            return None
        ca_file = self.settings.ca_file
        try:
            return ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
        except (OSError, ssl.SSLError) as error:
            raise AlertSendError(f"ca_file {ca_file} could not be read ({error})") from None


def _reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"its TLS certificate could not be verified ({error.verify_message})"
    cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return f"{type(error).__name__}: {_one_line(str(error))}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
