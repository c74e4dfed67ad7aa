"""The `platforms.telegram` section: the bot's token, the chats, and how posts are sent."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator

from daemon.publishers.telegram.media import Oversize
from daemon.settings import CallRetrySettings, http_url

_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{30,}")
_PUBLIC_NAME = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}")


def _chat_id(value: int | str) -> int | str:
    if isinstance(value, int) or _PUBLIC_NAME.fullmatch(value):
        return value
    if re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    raise ValueError("expected @channelname or a numeric chat id such as -1001234567890")


ChatId = Annotated[int | str, AfterValidator(_chat_id)]


class TelegramSettings(CallRetrySettings):
    """`platforms.telegram`; its call-level retry knobs come with `CallRetrySettings`."""

    token: SecretStr
    chat_ids: tuple[ChatId, ...] = Field(min_length=1)
    api_server: str = "https://api.telegram.org"
    parse_mode: Literal["HTML", "MarkdownV2"] | None = None
    disable_notification: bool = False
    request_timeout: float = Field(default=60.0, gt=0)
    oversize: Oversize = "document"

    @field_validator("token")
    @classmethod
    def _token_format(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN.fullmatch(value.get_secret_value()):
            # Never repeat the value: it is a secret, and this message is logged.
            raise ValueError(
                "not a bot token: expected the form 123456789:AAH... that @BotFather gives"
            )
        return value

    @field_validator("api_server")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value, "https://api.telegram.org")

    @field_validator("chat_ids")
    @classmethod
    def _each_chat_once(cls, value: tuple[int | str, ...]) -> tuple[int | str, ...]:
        repeated = sorted({str(chat) for chat in value if value.count(chat) > 1})
        if repeated:
            raise ValueError(f"listed more than once: {', '.join(repeated)}")
        return value
