"""One Instagram account's instagrapi client: a saved session, real timeouts, no prompts.

Every method blocks; the publisher calls them from a worker thread, one at a time. instagrapi
is imported on first use, so a disabled platform never loads it.

Workarounds for instagrapi 3.x, whose source is the final word on how it behaves:
- It sets no network timeout on its requests (its `request_timeout` is a sleep between
  them), so every session's `request` gets a default timeout of our `request_timeout`.
- Its HTTP sessions retry failed POSTs (3 times, with backoff, on 429 and 5xx): a retried
  `media/configure/` can post twice and a retried 429 is what gets an account flagged, so
  retries are off; the daemon retries whole posts later. Its `private_request` also sends
  a request again after an HTTP 408 (60 s later) or an answer cut off: not for configure
  (see `upload.one_request`).
- It answers a challenge by asking for a code on stdin (`input()`), which blocks a worker
  thread for ever when dropcast runs on a terminal: the challenge flow is off, and the
  code and password prompts raise `ChallengeRequired` (so Instagram is paused) instead.
- `dump_settings` writes the session in place with the default file mode: it is written
  atomically with mode 0600 instead.
- `photo_upload` re-encodes the image itself (no EXIF rotation, quality 75, 1080 px, the
  original's size reported): the prepared JPEG is uploaded as is, then configured; so
  are a carousel's (`album_upload`, see `sidecar`).
- `user_medias_v1` turns a network error into "no posts": the look at the account's recent
  posts makes its one request itself (see `recent`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from daemon.private_file import write_private_file
from daemon.publishers.instagram.errors import LoginFailedError
from daemon.publishers.instagram.image import PreparedImage
from daemon.publishers.instagram.recent import RecentPost, recent_posts
from daemon.publishers.instagram.settings import InstagramSettings
from daemon.publishers.instagram.sidecar import upload_carousel
from daemon.publishers.instagram.upload import Posted, Steps, upload
from daemon.secrets import REDACTOR

if TYPE_CHECKING:
    from instagrapi import Client

log = structlog.get_logger("dropcast.instagram")

T = TypeVar("T")


class InstagramSession:
    """The instagrapi client for one account, logged in once and reused from its session file."""

    def __init__(self, settings: InstagramSettings, folder: Path) -> None:
        self.settings = settings
        self.session_file = folder / f"{settings.username}.json"
        self._client: Client | None = None
        self._logged_in = False

    def upload(self, image: PreparedImage, caption: str, steps: Steps, alt: str = "") -> Posted:
        """Upload and publish one photo; log in again once if Instagram asks for it.

        `steps.checkpoint` raises if the attempt was given up meanwhile; it is called
        between steps.
        """
        return self._as_logged_in(
            lambda client: upload(client, image, caption, steps, alt), steps.checkpoint
        )

    def upload_carousel(
        self, images: Sequence[PreparedImage], alts: Sequence[str], caption: str, steps: Steps
    ) -> Posted:
        """Upload and publish one carousel; log in again once if Instagram asks for it."""
        return self._as_logged_in(
            lambda client: upload_carousel(client, images, alts, caption, steps),
            steps.checkpoint,
        )

    def recent_posts(self, checkpoint: Callable[[], None]) -> list[RecentPost]:
        """The account's most recent posts (one request); log in again once if Instagram asks."""

        def look(client: Client) -> list[RecentPost]:
            checkpoint()
            return recent_posts(client)

        return self._as_logged_in(look, checkpoint)

    def _as_logged_in(self, action: Callable[[Client], T], checkpoint: Callable[[], None]) -> T:
        """`action` with the logged-in client; on `login_required`, one login and one more try."""
        from instagrapi.exceptions import LoginRequired

        client, _ = self._logged_in_client()
        try:
            done = action(client)
        except LoginRequired:
            log.info("instagram.session_expired", account=self.settings.username)
            checkpoint()
            self._login(client, relogin=True)
            done = action(client)
        self._save(client)  # Instagram refreshes cookies and claims as it goes
        return done

    def account(self) -> str:
        """The account's username as Instagram reports it (logging in if needed)."""
        from instagrapi.exceptions import LoginRequired

        client, fresh_login = self._logged_in_client()
        if fresh_login:  # the login itself proved the account works
            return str(client.username)
        try:
            return str(client.account_info().username)
        except LoginRequired:
            self._login(client, relogin=True)
            return str(client.username)

    def close(self) -> None:
        client, self._client, self._logged_in = self._client, None, False
        if client is not None:
            for session in _sessions(client):
                session.close()

    def _logged_in_client(self) -> tuple[Client, bool]:
        """The client, logged in; and whether that took a login just now."""
        if self._client is None:  # kept after a failed login: the same device tries next time
            self._client = self._new_client()
        client = self._client
        if self._logged_in:
            return client, False
        if self._load(client):
            self._logged_in = True
            return client, False
        self._login(client, relogin=False)
        return client, True

    def _new_client(self) -> Client:
        from instagrapi import Client

        options: dict[str, Any] = {
            "proxy": self.settings.proxy,
            "delay_range": list(self.settings.delay_range),
            "logger": _library_logger(self.settings.username),
            "session_retry_total": 0,
            "with_challenge_flow": False,
        }
        if self.settings.transport is not None:
            options["private_transport"] = self.settings.transport
        client = Client(**options)
        client.challenge_code_handler = _refuse_code
        client.change_password_handler = _refuse_password
        for session in _sessions(client):
            session.request = partial(_with_timeout, session.request, self.settings.request_timeout)
        return client

    def _load(self, client: Client) -> bool:
        """Reuse the saved session, if there is one; no request is made."""
        try:
            client.load_settings(self.session_file)
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as error:
            log.warning(
                "instagram.session_discarded",
                path=str(self.session_file),
                error=f"{type(error).__name__}: {error}",
                consequence="logging in again",
            )
            return False
        # load_settings restores the retry and transport choices saved with the session.
        transport = self.settings.transport or type(client).private_transport  # its default
        client.set_retry_config(session_retry_total=0, private_transport=transport)
        client.username = self.settings.username
        client.password = self.settings.password.get_secret_value()
        return bool(client.user_id)

    def _login(self, client: Client, *, relogin: bool) -> None:
        self._logged_in = False
        try:
            client.login(
                self.settings.username,
                self.settings.password.get_secret_value(),
                relogin=relogin,
                verification_code=self._verification_code(client),
            )
        except Exception as error:
            raise LoginFailedError(REDACTOR.redact(str(error))) from error
        self._logged_in = True
        self._save(client)
        log.info("instagram.logged_in", account=self.settings.username, relogin=relogin)

    def _verification_code(self, client: Client) -> str:
        seed = self.settings.totp_seed
        return "" if seed is None else str(client.totp_generate_code(seed.get_secret_value()))

    def _save(self, client: Client) -> None:
        write_private_file(self.session_file, json.dumps(client.get_settings(), indent=1))


def _with_timeout(request: Any, timeout: float, method: str, url: str, **kwargs: Any) -> Any:
    """requests' `Session.request`, with `timeout` when the caller gave none."""
    if kwargs.get("timeout") is None:
        kwargs["timeout"] = timeout
    return request(method, url, **kwargs)


def _sessions(client: Client) -> list[Any]:
    return [
        getattr(client, name) for name in ("private", "public", "graphql") if hasattr(client, name)
    ]


def _refuse_code(username: str, choice: object = None) -> str:
    """instagrapi's prompt for a challenge code: refused at once (its default calls `input()`)."""
    from instagrapi.exceptions import ChallengeRequired

    raise ChallengeRequired(f"Instagram sent a security code ({choice}) to confirm the login")


def _refuse_password(username: str) -> str:
    """instagrapi's prompt for a new password: refused (its default asks, then sleeps 2 minutes)."""
    from instagrapi.exceptions import ChallengeRequired

    raise ChallengeRequired("Instagram asks for the password to be changed")


class _ToStructlog(logging.Handler):
    """Passes instagrapi's warnings and errors on as dropcast events, redacted."""

    def emit(self, record: logging.LogRecord) -> None:
        log.warning(
            "instagram.library_warned",
            level=record.levelname.lower(),
            message=REDACTOR.redact(record.getMessage())[:500],
        )


def _library_logger(username: str) -> logging.Logger:
    logger = logging.getLogger(f"dropcast.instagram.instagrapi.{username}")
    logger.setLevel(logging.WARNING)  # its info and debug lines hold session tokens
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(_ToStructlog())
    return logger
