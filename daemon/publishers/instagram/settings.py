"""The `platforms.instagram` section of config.yaml."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from daemon.publishers.instagram.caption import TooLongPolicy
from daemon.publishers.instagram.image import Fit, parse_color
from daemon.settings import PlatformSettings

_USERNAME = re.compile(r"[a-z0-9._]{1,30}")


class InstagramSettings(PlatformSettings):
    """One Instagram account and how carefully to post to it."""

    username: str
    password: SecretStr
    totp_seed: SecretStr | None = None
    proxy: str | None = None
    delay_range: tuple[float, float] = (1.0, 3.0)
    fit: Fit = "pad"
    pad_color: str = "white"
    max_caption_chars: int = Field(default=2200, ge=1, le=2200)
    max_hashtags: int = Field(default=30, ge=0)
    too_long: TooLongPolicy = "truncate"
    min_interval_seconds: float = Field(default=120.0, ge=0)
    max_posts_per_day: int = Field(default=10, ge=1)
    pause_minutes: float = Field(default=360.0, ge=0)
    request_timeout: float = Field(default=60.0, gt=0)
    transport: Literal["requests", "curl", "utls"] | None = None

    @field_validator("username")
    @classmethod
    def _instagram_username(cls, value: str) -> str:
        username = value.strip().removeprefix("@").lower()
        if not _USERNAME.fullmatch(username):
            raise ValueError(
                "an Instagram username: up to 30 letters, digits, '.' and '_' "
                "(the name, not the e-mail address or phone number)"
            )
        return username

    @field_validator("totp_seed")
    @classmethod
    def _base32_seed(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        seed = normalize_seed(value.get_secret_value())
        try:
            base64.b32decode(seed + "=" * (-len(seed) % 8), casefold=True)
        except (binascii.Error, ValueError):
            # The message never repeats the value: it is a secret.
            raise ValueError(
                "the key of an authentication app: letters A-Z and digits 2-7 (spaces are fine)"
            ) from None
        return SecretStr(seed)

    @field_validator("delay_range")
    @classmethod
    def _ordered_delays(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 <= low <= high:
            raise ValueError("two seconds [low, high] with 0 <= low <= high, e.g. [1, 3]")
        return value

    @field_validator("pad_color")
    @classmethod
    def _known_color(cls, value: str) -> str:
        try:
            parse_color(value)
        except ValueError:
            raise ValueError("a color such as white, black or '#f0f0f0'") from None
        return value


def normalize_seed(seed: str) -> str:
    """A TOTP key as apps show it ("abcd efgh ...") in the form instagrapi expects."""
    return "".join(seed.split()).upper()
