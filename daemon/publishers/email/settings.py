"""The `platforms.email` section: the server, the login, the addresses and the templates.

Every key is checked when the config is loaded, so a bad address or template is reported
with its key path instead of failing the first post.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from email.utils import parseaddr
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator

from daemon.settings import CallRetrySettings, ConfigPath

SUBJECT_FIELDS = frozenset({"title", "stem", "date"})
BODY_FIELDS = frozenset({"caption", "title", "stem", "date"})
WARNING_FIELDS = frozenset({"warning"})


def check_template(template: str, allowed: Iterable[str]) -> str:
    """Return `template` if it uses only `allowed` fields; else raise ValueError saying why."""
    allowed = frozenset(allowed)
    known = ", ".join(f"{{{name}}}" for name in sorted(allowed))
    try:
        fields = [
            field for _, field, _, _ in string.Formatter().parse(template) if field is not None
        ]
    except ValueError as error:
        raise ValueError(f"{error}; a literal brace is written {{{{ or }}}}") from None
    for field in fields:
        if field not in allowed:
            raise ValueError(f"unknown field {{{field}}}; the fields are {known}")
    try:
        template.format_map(dict.fromkeys(allowed, ""))
    except (ValueError, TypeError) as error:
        raise ValueError(f"cannot be filled in: {error}") from None
    return template


Security = Literal["starttls", "tls", "none"]
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "tls": 465, "none": 25}


def _as_list(value: object) -> object:
    """`recipients: post@example.com` means a list of one."""
    return [value] if isinstance(value, str) else value


class EmailSettings(CallRetrySettings):
    """The keys under `platforms.email` (with `max_retries`, `retry_base_delay` and
    `retry_max_delay`, for the failures `EmailPublisher.retry_on` says may get better)."""

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Security = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    recipients: Annotated[tuple[str, ...], BeforeValidator(_as_list)] = Field(min_length=1)
    subject: str = "{title}"
    body: str = "caption"
    html: bool = False
    timeout: float = Field(default=60.0, gt=0)
    ca_file: ConfigPath | None = None
    max_attachment_mb: float = Field(default=20.0, gt=0)  # each image; SIZE bounds the message
    # In front of the subject of a post with a content warning; "" puts nothing there.
    content_warning_subject: str = "[CW: {warning}] "

    @property
    def smtp_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.security]

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]

    @field_validator("sender")
    @classmethod
    def _check_sender(cls, value: str) -> str:
        check_address(value)
        return value

    @field_validator("recipients")
    @classmethod
    def _check_recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_address(address) for address in value)

    @field_validator("subject")
    @classmethod
    def _check_subject(cls, value: str) -> str:
        return check_template(value, SUBJECT_FIELDS)

    @field_validator("body")
    @classmethod
    def _check_body(cls, value: str) -> str:
        return value if value == "caption" else check_template(value, BODY_FIELDS)

    @field_validator("content_warning_subject")
    @classmethod
    def _check_warning_subject(cls, value: str) -> str:
        return check_template(value, WARNING_FIELDS)

    @field_validator("ca_file")
    @classmethod
    def _check_ca_file(cls, value: ConfigPath | None) -> ConfigPath | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value} (the CA certificate, in PEM format)")
        return value

    @model_validator(mode="after")
    def _check_login(self) -> EmailSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: give both or neither")
        return self


def check_address(value: str) -> str:
    """Raise ValueError unless `value` is one plain address (`a@b.c` or `Name <a@b.c>`)."""
    _, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    broken = any(char.isspace() for char in address) or not value.isprintable()
    if broken or not (at and local and domain):
        raise ValueError(f"{value!r} is not an e-mail address (expected name@example.com)")
    if not address.isascii():
        raise ValueError(f"{value!r}: write the address in ASCII (the domain in punycode)")
    return value
