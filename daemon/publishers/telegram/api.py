"""The Bot API through aiogram: one `Bot`, and errors in words that say what to fix.

aiogram is imported on first use, never at import time: it is heavy, and a disabled platform
must cost nothing. The bot token is part of every Bot API URL, so no text from aiogram or
aiohttp leaves this module without the token scrubbed out of it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from pydantic import SecretStr

from daemon.retry import GaveUpError, RetryAfter, RetryPolicy
from daemon.secrets import REDACTED

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.exceptions import AiogramError
    from aiogram.methods.base import TelegramMethod

T = TypeVar("T")

# Imported in a worker thread on first use: importing aiogram takes seconds of CPU.
AIOGRAM_MODULES = (
    "aiogram",
    "aiogram.client.session.aiohttp",
    "aiogram.client.telegram",
    "aiogram.exceptions",
    "aiogram.methods",
    "aiogram.types",
)


class TelegramCallError(Exception):
    """Raised when a Bot API call fails; the message says what to fix and never holds the token.

    `retry` is set when the failure may pass (flood control, a server error, the network).
    `lost` is set when the request may have reached Telegram and its answer did not come
    back (a timeout, a dropped connection): then it is never retried blindly.
    """

    def __init__(
        self,
        message: str,
        retry: RetryAfter | None = None,
        *,
        lost: bool = False,
        needs_owner: bool = False,  # no retry helps until the owner acts (a token refused)
    ) -> None:
        super().__init__(message)
        self.retry = retry
        self.lost = lost
        self.needs_owner = needs_owner


@dataclass(frozen=True)
class _Where:
    """What an error message may name: the chat, the server, the request timeout."""

    chat: str | None
    server: str
    timeout: float

    @property
    def to_chat(self) -> str:
        return f" to {self.chat}" if self.chat else ""


class BotClient:
    """One aiogram `Bot` (and its HTTP session), created on first use and reused until `close`."""

    def __init__(self, token: SecretStr, api_server: str, request_timeout: float) -> None:
        self._token = token
        self.api_server = api_server
        self.request_timeout = request_timeout
        self._bot: Bot | None = None

    async def load(self) -> None:
        """Import aiogram, once per process, in a worker thread so the event loop runs on."""
        if not all(name in sys.modules for name in AIOGRAM_MODULES):
            await anyio.to_thread.run_sync(_import_aiogram)

    async def send(self, method: TelegramMethod[T], chat: str | None = None) -> T:
        """Send `method` once and return its result, or raise a `TelegramCallError`.

        It is not retried here: the publisher runs each send under its retry declaration.
        """
        await self.load()
        from aiogram.exceptions import AiogramError

        bot = self._get_bot()
        try:
            return await bot(method)
        except AiogramError as error:
            where = _Where(chat, self.api_server, self.request_timeout)
            raise self._explain(error, where) from None

    async def close(self) -> None:
        """Close the HTTP session (never `bot.close()`: that is a Bot API method)."""
        bot, self._bot = self._bot, None
        if bot is not None:
            await bot.session.close()

    def _get_bot(self) -> Bot:
        if self._bot is None:
            from aiogram import Bot
            from aiogram.client.session.aiohttp import AiohttpSession
            from aiogram.client.telegram import TelegramAPIServer

            server = TelegramAPIServer.from_base(self.api_server)
            session = AiohttpSession(api=server, timeout=self.request_timeout)
            self._bot = Bot(self._token.get_secret_value(), session=session)
        return self._bot

    def _explain(self, error: AiogramError, where: _Where) -> TelegramCallError:
        explained = explain(error, where)
        scrubbed = self.scrub(str(explained))
        owner = explained.needs_owner
        return TelegramCallError(scrubbed, explained.retry, lost=explained.lost, needs_owner=owner)

    def scrub(self, text: str) -> str:
        """`text` without the token, or its secret half, anywhere in it."""
        token = self._token.get_secret_value()
        secret_half = token.partition(":")[2]
        for value in (token, secret_half):
            if value:
                text = text.replace(value, REDACTED)
        return text


# aiogram parses every answer as `Response[<the method's result type>]`. pydantic keeps such
# generic models only weakly, so without a reference each call built one anew (~20 ms of CPU).
_RESPONSE_MODELS: list[object] = []


def _import_aiogram() -> None:
    for name in AIOGRAM_MODULES:
        importlib.import_module(name)
    from aiogram.methods import GetMe, SendDocument, SendMediaGroup, SendMessage, SendPhoto
    from aiogram.methods.base import Response

    methods = (GetMe, SendDocument, SendMediaGroup, SendMessage, SendPhoto)
    _RESPONSE_MODELS.extend(Response[method.__returning__] for method in methods)  # type: ignore[name-defined]


def describe_failure(failure: GaveUpError, policy: RetryPolicy) -> str:
    """What went wrong with a `BotClient.send` that the publisher's retry gave up on."""
    error = failure.error
    if not isinstance(error, TelegramCallError) or error.retry is None:
        return str(error)
    if failure.attempts > policy.max_retries:
        return f"{error} (gave up after {failure.attempts} attempts)"
    return f"{error}, longer than the publish timeout leaves"


# --- Errors in the user's words ---------------------------------------------------------


def explain(error: AiogramError, where: _Where) -> TelegramCallError:
    """A `TelegramCallError` for an aiogram error: what went wrong and what to fix."""
    from aiogram import exceptions

    for name, describe in _EXPLANATIONS:
        if isinstance(error, getattr(exceptions, name)):
            return describe(error, where)
    return TelegramCallError(f"Telegram refused the request{where.to_chat}: {_said(error)}")


def _said(error: AiogramError) -> str:
    return str(getattr(error, "message", error))


def _flood(error: Any, where: _Where) -> TelegramCallError:
    seconds = int(error.retry_after)
    return TelegramCallError(
        f"Telegram's flood control asked to wait {seconds} s before sending{where.to_chat} again",
        RetryAfter(float(seconds)),
    )


def _too_large(error: Any, where: _Where) -> TelegramCallError:
    return TelegramCallError(
        f"the image is too large for the Bot API at {where.server}: set oversize: scale, "
        "or run a local Bot API server (it takes files up to 2000 MB)"
    )


def _network(error: Any, where: _Where) -> TelegramCallError:
    from aiohttp import ClientConnectorError, ConnectionTimeoutError

    # No connection was made (refused, no route, no DNS, a connect that timed out): the
    # request never left, so it is safe to send again.
    if isinstance(error.__cause__, ClientConnectorError | ConnectionTimeoutError):
        return TelegramCallError(f"could not reach {where.server}: {_said(error)}", RetryAfter())
    if "timeout" in _said(error).lower():
        message = f"Telegram did not answer within {where.timeout:g} s (request_timeout)"
    else:
        message = f"the connection to {where.server} broke before Telegram answered: {_said(error)}"
    return TelegramCallError(f"{message}; the message may have arrived", lost=True)


def _server(error: Any, where: _Where) -> TelegramCallError:
    return TelegramCallError(f"Telegram had a server error: {_said(error)}", RetryAfter())


def _not_bot_api(error: Any, where: _Where) -> TelegramCallError:
    if isinstance(error.data, dict) and error.data.get("ok") is True:
        # Telegram said ok, in an answer aiogram could not read: the message is there.
        return TelegramCallError(
            f"{where.server} accepted the message{where.to_chat} in an answer that could not be "
            "read; the message has arrived",
            lost=True,
        )
    return TelegramCallError(
        f"{where.server} did not answer like a Bot API server: check platforms.telegram.api_server",
        RetryAfter(),
    )


def _unauthorized(error: Any, where: _Where) -> TelegramCallError:
    return TelegramCallError(
        "Telegram does not accept the bot token (401 Unauthorized): check "
        "platforms.telegram.token, or get a new token from @BotFather",
        needs_owner=True,
    )


def _forbidden(error: Any, where: _Where) -> TelegramCallError:
    said = _said(error)
    if "blocked" in said:
        return TelegramCallError(f"{where.chat} blocked the bot: unblock it ({said})")
    return _not_admin(where, said)


def _not_admin(where: _Where, said: str) -> TelegramCallError:
    if where.chat is None:
        return TelegramCallError(f"Telegram refused the request: {said}")
    return TelegramCallError(
        f"the bot is not an admin of {where.chat}: add it to {where.chat} as an administrator "
        f"allowed to post messages ({said})"
    )


def _not_found(error: Any, where: _Where) -> TelegramCallError:
    return TelegramCallError(
        f"{where.server} answered 404 Not Found: check platforms.telegram.api_server "
        "and platforms.telegram.token"
    )


def _migrated(error: Any, where: _Where) -> TelegramCallError:
    new_id = error.migrate_to_chat_id
    return TelegramCallError(
        f"the group {where.chat} is now a supergroup with id {new_id}: "
        f"put {new_id} in platforms.telegram.chat_ids instead"
    )


def _bad_request(error: Any, where: _Where) -> TelegramCallError:
    said = _said(error)
    lowered = said.lower()
    if "chat not found" in lowered:
        return TelegramCallError(
            f"Telegram does not know the chat {where.chat}: check platforms.telegram.chat_ids "
            f"(a private chat must have messaged the bot first) ({said})"
        )
    if "parse entities" in lowered:
        return TelegramCallError(
            f"Telegram could not read the caption's markup ({said}): "
            "fix the caption, or set parse_mode: null to send it as plain text"
        )
    if "rights" in lowered or "admin" in lowered:
        return _not_admin(where, said)
    return TelegramCallError(f"Telegram refused the message{where.to_chat}: {said}")


# Most specific first: TelegramEntityTooLarge is a TelegramNetworkError, for instance.
_EXPLANATIONS: tuple[tuple[str, Callable[[Any, _Where], TelegramCallError]], ...] = (
    ("TelegramRetryAfter", _flood),
    ("TelegramEntityTooLarge", _too_large),
    ("TelegramNetworkError", _network),
    ("TelegramServerError", _server),
    ("ClientDecodeError", _not_bot_api),
    ("TelegramUnauthorizedError", _unauthorized),
    ("TelegramForbiddenError", _forbidden),
    ("TelegramNotFound", _not_found),
    ("TelegramMigrateToChat", _migrated),
    ("TelegramBadRequest", _bad_request),
)
