"""The `platforms.bluesky` section: the account, its app password, its server, and limits."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from daemon.settings import CallRetrySettings, http_url

# A handle is a domain name (alice.bsky.social); the leading @ people type is allowed.
_HANDLE = re.compile(r"(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]")
# What Settings > Privacy and security > App passwords gives: four groups of four.
_APP_PASSWORD = re.compile(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}")
# A BCP-47 language tag as Bluesky's `langs` takes it: en, pt-BR, zh-Hant.
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")


class BlueskySettings(CallRetrySettings):
    """`platforms.bluesky`; its call-level retry knobs come with `CallRetrySettings`."""

    handle: str
    app_password: SecretStr
    service: str = "https://bsky.social"
    language: str = "en"
    # The lexicon now says 2,000,000 bytes a blob; bsky.social long took 1,000,000.
    max_image_bytes: int = Field(default=1_000_000, ge=100_000, le=50_000_000)
    request_timeout: float = Field(default=60.0, gt=0)

    @field_validator("handle")
    @classmethod
    def _handle_format(cls, value: str) -> str:
        handle = value.strip().removeprefix("@").lower()
        if not _HANDLE.fullmatch(handle):
            raise ValueError(
                f"not a Bluesky handle: {value!r}; expected a domain such as alice.bsky.social"
            )
        return handle

    @field_validator("app_password")
    @classmethod
    def _app_password_format(cls, value: SecretStr) -> SecretStr:
        if not _APP_PASSWORD.fullmatch(value.get_secret_value()):
            # Never repeat the value: it is a secret, and this message is logged.
            raise ValueError(
                "not an app password: expected the form xxxx-xxxx-xxxx-xxxx that Bluesky's "
                "Settings > Privacy and security > App passwords gives (never the account's "
                "own password)"
            )
        return value

    @field_validator("service")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value, "https://bsky.social")

    @field_validator("language")
    @classmethod
    def _language_tag(cls, value: str) -> str:
        if not _LANGUAGE.fullmatch(value):
            raise ValueError(f"not a language tag: {value!r}; expected one such as en or pt-BR")
        return value
