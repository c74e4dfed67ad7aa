"""Alerts through any Apprise URL (ntfy, Signal, Matrix, Slack, ...), with the optional
`apprise` library (pip install 'dropcast[apprise]'), imported only when a URL is set.

Apprise is blocking: it runs in a worker thread, with its own network timeouts. The URL
holds the service's key, so what Apprise logs is kept from stderr, and quoted in
dropcast's log only with every piece of the URL hidden.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import warnings
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio

from daemon.alerts.message import Alert, AlertSendError
from daemon.secrets import Redactor

if TYPE_CHECKING:
    import apprise

_APPRISE_LOGGER = "apprise"
_MIN_PIECE = 4  # shorter pieces of a URL (a port, "json") are no secret


def check_url(url: str) -> None:
    """Raise ValueError unless Apprise knows what to do with `url` (the text never holds it)."""
    if not _notifier(url):
        raise ValueError(
            f"Apprise does not know this URL (it begins {_scheme(url)}://): see "
            "https://github.com/caronc/apprise/wiki for the URL of each service"
        )


class AppriseAlerts:
    """One Apprise URL."""

    timeout = 30.0  # beyond Apprise's own connect and read timeouts

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = f"apprise {_scheme(url)}://"

    async def send(self, alert: Alert) -> None:
        notify = partial(_notify, self.url, alert)
        await anyio.to_thread.run_sync(notify, abandon_on_cancel=True)


def _notify(url: str, alert: Alert) -> None:
    notifier = _notifier(url)
    if notifier is None:
        raise AlertSendError(f"Apprise does not know this URL (it begins {_scheme(url)}://)")
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger(_APPRISE_LOGGER)
    logger.addHandler(handler)
    try:
        delivered = notifier.notify(body=alert.body, title=alert.subject)
    finally:
        logger.removeHandler(handler)
    if not delivered:
        said = " ".join(captured.getvalue().split())
        raise AlertSendError(
            f"Apprise could not deliver to {_scheme(url)}://"
            + (f": {_hide_url(url, said)}" if said.strip() else "")
        )


def _notifier(url: str) -> apprise.Apprise | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise

        # Its e-mail plugin, loaded with the others at the first URL, imports imghdr, which
        # warns on Python 3.11 and 3.12: imported here, quietly, it warns no more.
        with contextlib.suppress(ImportError):
            importlib.import_module("imghdr")

    quiet = logging.getLogger(_APPRISE_LOGGER)
    if not quiet.handlers:  # else Python's last resort prints its warnings on stderr, raw
        quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    notifier = apprise.Apprise()
    return notifier if notifier.add(url) else None


def _scheme(url: str) -> str:
    return url.partition("://")[0] or "?"


def _hide_url(url: str, text: str) -> str:
    """`text` with every piece of `url` hidden: its user, password, host, path and query."""
    parts = urlsplit(url)
    pieces = [parts.username, parts.password, parts.hostname, *parts.path.split("/")]
    pieces += [value for pair in parse_qsl(parts.query) for value in pair]
    redactor = Redactor()
    redactor.replace_secrets(
        unquote(piece) for piece in pieces if piece and len(piece) >= _MIN_PIECE
    )
    return redactor.redact(text)
