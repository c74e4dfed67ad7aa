"""`alerts:` in config.yaml: where to tell the owner, and how often at most.

```yaml
alerts:
  to:
    - telegram: {token: "${ALERT_BOT_TOKEN}", chat_id: 123456789}
    - email: {host: smtp.example.com, username: me@example.com,
              password: "${SMTP_PASSWORD}", sender: me@example.com, to: me@example.com}
    - apprise: "ntfys://ntfy.sh/my-secret-topic"
  after_failures: 3
  quiet_minutes: 60
```
Every secret (a bot token, a password, an Apprise URL, which holds its service's key) is a
`SecretStr`: kept out of every log line, error and alert.
"""

from __future__ import annotations

import importlib.util
import re
from email.utils import parseaddr
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator

from daemon.settings import ConfigPath, StrictModel, http_url

Security = Literal["starttls", "tls", "none"]
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "tls": 465, "none": 25}
APPRISE_MISSING = (
    "Apprise URLs need the apprise library: pip install 'dropcast[apprise]' "
    "(or use telegram or email, which need nothing more)"
)
_BOT_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]{20,}")


class TelegramAlertSettings(StrictModel):
    """A private chat with the owner's bot (the chat must have messaged the bot first)."""

    token: SecretStr
    chat_id: int | str
    api_server: str = "https://api.telegram.org"
    timeout: float = Field(default=15.0, gt=0)

    @field_validator("token")
    @classmethod
    def _token_format(cls, value: SecretStr) -> SecretStr:
        if not _BOT_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError(
                "not a bot token: expected the form 123456789:AAH... that @BotFather gives"
            )
        return value

    @field_validator("api_server")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value, "https://api.telegram.org")


def _as_list(value: object) -> object:
    """`to: me@example.com` means a list of one."""
    return [value] if isinstance(value, str) else value


def _address(value: str) -> str:
    if "@" not in parseaddr(value)[1]:
        raise ValueError(f"{value!r} is not an e-mail address such as me@example.com")
    return value


class EmailAlertSettings(StrictModel):
    """An SMTP server that takes the owner's alerts; TLS is always verified."""

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Security = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    to: Annotated[tuple[str, ...], BeforeValidator(_as_list)] = Field(min_length=1)
    ca_file: ConfigPath | None = None  # a private CA's certificate (PEM); else the system's
    timeout: float = Field(default=30.0, gt=0)

    @property
    def smtp_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.security]

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_address(address) for address in value)

    @model_validator(mode="after")
    def _login_complete(self) -> EmailAlertSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: set both, or neither")
        return self


class AlertDestination(StrictModel):
    """One place to tell the owner: exactly one of `telegram`, `email`, `apprise`."""

    telegram: TelegramAlertSettings | None = None
    email: EmailAlertSettings | None = None
    apprise: SecretStr | None = None  # any Apprise URL; it holds the service's key

    @field_validator("apprise")
    @classmethod
    def _apprise_installed(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        if importlib.util.find_spec("apprise") is None:
            raise ValueError(APPRISE_MISSING)
        from daemon.alerts.to_apprise import check_url

        check_url(value.get_secret_value())  # the library is imported only when it is used
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> AlertDestination:
        given = [kind for kind in ("telegram", "email", "apprise") if getattr(self, kind)]
        if len(given) != 1:
            raise ValueError(
                "each entry of alerts.to is one of telegram: {...}, email: {...} or "
                f"apprise: URL (this one has {', '.join(given) or 'none of them'})"
            )
        return self

    @property
    def kind(self) -> str:
        return "telegram" if self.telegram else "email" if self.email else "apprise"


class AlertSettings(StrictModel):
    to: tuple[AlertDestination, ...] = ()  # none: no alerts
    after_failures: int = Field(default=3, ge=1)  # a platform failing this many posts in a row
    quiet_minutes: float = Field(default=60.0, ge=0)  # one message per problem per this long
    queue_size: int = Field(default=100, ge=1)  # alerts waiting to go; more are dropped, logged
