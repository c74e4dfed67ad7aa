"""The `platforms.mastodon` section: the server, the account's access token, how posts are shown."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from daemon.settings import CallRetrySettings

Visibility = Literal["public", "unlisted", "private", "direct"]

_LANGUAGE = re.compile(r"[a-z]{2,3}")


class MastodonSettings(CallRetrySettings):
    """`platforms.mastodon`; its call-level retry knobs come with `CallRetrySettings`."""

    api_base_url: str
    access_token: SecretStr
    visibility: Visibility = "public"
    language: str | None = None
    request_timeout: float = Field(default=30.0, gt=0, le=300)
    # How long an upload may stay "processing" (202, `url: null`) before the post gives up.
    media_processing_timeout: float = Field(default=60.0, gt=0)

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                "expected the server's address as an https:// URL, such as https://mastodon.social"
            )
        return value.rstrip("/")

    @field_validator("access_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if not token.strip() or any(c.isspace() for c in token):
            # Never repeat the value: it is a secret, and this message is logged.
            raise ValueError(
                "not an access token: expected the one-word token from Preferences > "
                "Development > your application"
            )
        return value

    @field_validator("language")
    @classmethod
    def _iso_639(cls, value: str | None) -> str | None:
        if value is not None and not _LANGUAGE.fullmatch(value):
            raise ValueError("expected an ISO 639-1 language code in lower case, such as en or de")
        return value
