"""One message to the owner, and the error a destination that could not take it raises."""

from __future__ import annotations

from dataclasses import dataclass

from daemon.secrets import REDACTOR

TELEGRAM_TEXT_LIMIT = 4096  # the Bot API's longest message, in characters


@dataclass(frozen=True)
class Alert:
    """What to tell the owner: a one-line subject and a plain-text body saying what to do.

    `problem` names what it is about ("email failing", "posts failed"): one message per
    problem per quiet period.
    """

    problem: str
    subject: str
    body: str

    @property
    def text(self) -> str:
        """Subject and body in one text, for a chat message."""
        return f"{self.subject}\n\n{self.body}"

    def redacted(self) -> Alert:
        """The alert with every known secret hidden: the last line of defence."""
        return Alert(self.problem, REDACTOR.redact(self.subject), REDACTOR.redact(self.body))


class AlertSendError(Exception):
    """Raised when a destination did not take an alert; the message never holds a secret."""
