"""Building blocks shared by the core config and every platform's settings model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationInfo

from daemon.retry import RetryPolicy


def _resolve_from_config_folder(value: Path, info: ValidationInfo) -> Path:
    context = info.context if isinstance(info.context, dict) else {}
    base_dir = context.get("base_dir")
    value = value.expanduser()
    if value.is_absolute() or base_dir is None:
        return value
    return Path(base_dir) / value


ConfigPath = Annotated[Path, AfterValidator(_resolve_from_config_folder)]
"""A path in the config: relative paths are relative to the config file's folder."""


class StrictModel(BaseModel):
    """A settings model that refuses unknown keys and cannot be changed once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class PlatformSettings(StrictModel):
    """The settings every platform has; a publisher's own model adds its keys."""

    enabled: bool = False


class CallRetrySettings(PlatformSettings):
    """The call-level retry knobs, for every platform whose publisher declares `retry_on`."""

    max_retries: int = Field(default=3, ge=0, le=10)
    retry_base_delay: float = Field(default=1.0, ge=0)
    retry_max_delay: float = Field(default=60.0, ge=0)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_retries=self.max_retries,
            base_delay=self.retry_base_delay,
            max_delay=self.retry_max_delay,
        )


def http_url(value: str, example: str) -> str:
    """`value` if it is an http:// or https:// URL (without its trailing /), for a validator."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// URL such as {example}")
    return value.rstrip("/")


def secret_values(model: BaseModel) -> list[str]:
    """Every `SecretStr` value in `model` and the models nested in it."""
    found: list[str] = []
    for name in type(model).model_fields:
        _collect_secrets(getattr(model, name), found)
    return found


def _collect_secrets(value: object, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, BaseModel):
        found.extend(secret_values(value))
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _collect_secrets(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_secrets(item, found)


def describe_issue(kind: str, message: str) -> str:
    """A pydantic message in the words a person editing YAML would use."""
    if kind == "extra_forbidden":
        return "unknown key (a typo?)"
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":  # a validator's own words already say what was expected
        return message.removeprefix("Value error, ")
    return f"expected something else: {message}"
