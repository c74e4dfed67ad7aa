"""Alerts to a private Telegram chat, through the Bot API's sendMessage with aiohttp.

aiohttp alone, not aiogram: aiogram takes seconds of CPU to import, for one message an
hour. The bot token is in the request's URL, so no aiohttp error text (which may quote the
URL) is ever passed on: only the kind of error and the server's own description.
"""

from __future__ import annotations

import json
from typing import Any

from daemon.alerts.message import TELEGRAM_TEXT_LIMIT, Alert, AlertSendError
from daemon.alerts.settings import TelegramAlertSettings

_ADVICE = {
    401: "check the token under alerts.to (telegram), or get a new one from @BotFather",
    400: "check chat_id under alerts.to (telegram); the owner must have sent /start to the bot",
    403: "the owner blocked the bot, or never started it: send /start to the bot",
}


class TelegramAlerts:
    """One private chat."""

    def __init__(self, settings: TelegramAlertSettings) -> None:
        self.settings = settings
        self.name = f"telegram chat {settings.chat_id}"
        self.timeout = settings.timeout

    async def send(self, alert: Alert) -> None:
        import aiohttp

        token = self.settings.token.get_secret_value()
        url = f"{self.settings.api_server}/bot{token}/sendMessage"
        # A form, as aiogram sends it: every Bot API server (and the tests' fake) reads one.
        payload = {
            "chat_id": str(self.settings.chat_id),
            "text": alert.text[:TELEGRAM_TEXT_LIMIT],
            "link_preview_options": json.dumps({"is_disabled": True}),
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session,
                session.post(url, data=payload) as response,
            ):
                status, answer = response.status, await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise AlertSendError(
                f"could not reach {self.settings.api_server}: {_kind(error)}"
            ) from None
        _check(status, answer)


def _kind(error: BaseException) -> str:
    """What went wrong, without the error's text: it may quote the URL, token and all."""
    reason = getattr(getattr(error, "os_error", None), "strerror", None)
    if isinstance(error, TimeoutError):
        return "no answer in time"
    return f"{type(error).__name__}{f' ({reason})' if reason else ''}"


def _check(status: int, answer: Any) -> None:
    if isinstance(answer, dict) and answer.get("ok") is True:
        return
    said = answer.get("description") if isinstance(answer, dict) else None
    advice = _ADVICE.get(status)
    raise AlertSendError(
        f"Telegram refused the alert ({status} {said or 'no description'})"
        + (f": {advice}" if advice else "")
    )
