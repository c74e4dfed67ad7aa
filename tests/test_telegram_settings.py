"""The `platforms.telegram` section of config.yaml: validation, defaults, and start-up cost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from daemon.config import ConfigError, load_config
from daemon.publisher import PublisherContext
from daemon.publishers.telegram import TelegramPublisher, TelegramSettings
from daemon.registry import Registry
from daemon.retry import RetryPolicy
from tests.conftest import write_config
from tests.fakes.telegram_api import TOKEN


def load_telegram(folder: Path, registry: Registry, **section: Any) -> TelegramSettings:
    values = {"enabled": True, "token": TOKEN, "chat_ids": ["@channel"], **section}
    config = load_config(write_config(folder, {"telegram": values}), registry)
    settings = config.platforms["telegram"]
    assert isinstance(settings, TelegramSettings)
    return settings


def config_error(folder: Path, registry: Registry, **section: Any) -> str:
    with pytest.raises(ConfigError) as error:
        load_telegram(folder, registry, **section)
    return str(error.value)


def test_defaults_send_plain_captions_to_the_public_bot_api(
    tmp_path: Path, registry: Registry
) -> None:
    """Only token and chat_ids are needed; the rest has defaults."""
    settings = load_telegram(tmp_path, registry)
    assert settings.api_server == "https://api.telegram.org"
    assert settings.parse_mode is None
    assert (settings.oversize, settings.max_retries, settings.request_timeout) == (
        "document",
        3,
        60,
    )
    assert settings.disable_notification is False


def test_numeric_chat_ids_become_numbers(tmp_path: Path, registry: Registry) -> None:
    """A chat id written as a quoted number is the same chat as the unquoted one."""
    settings = load_telegram(tmp_path, registry, chat_ids=["-1001234", 42, "@name_1"])
    assert settings.chat_ids == (-1001234, 42, "@name_1")


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"token": "not-a-token"}, "platforms.telegram.token: "),
        ({"chat_ids": []}, "platforms.telegram.chat_ids: an empty list is too short"),
        ({"chat_ids": ["channel"]}, "platforms.telegram.chat_ids[0]: "),
        ({"chat_ids": ["@channel", "@channel"]}, "listed more than once: @channel"),
        ({"api_server": "api.telegram.org"}, "expected an http:// or https:// URL"),
        ({"parse_mode": "markdown"}, "platforms.telegram.parse_mode"),
        ({"oversize": "crop"}, "platforms.telegram.oversize"),
        ({"request_timeout": 0}, "platforms.telegram.request_timeout"),
        ({"chat_id": "@a"}, "platforms.telegram.chat_id: unknown key"),
        ({"max_retries": 11}, "platforms.telegram.max_retries"),
        ({"max_retries": -1}, "platforms.telegram.max_retries"),
        ({"retry_base_delay": -1}, "platforms.telegram.retry_base_delay"),
        ({"retry_max_delay": -1}, "platforms.telegram.retry_max_delay"),
    ],
    ids=[
        "token",
        "no-chats",
        "chat-name",
        "repeated-chat",
        "server",
        "parse-mode",
        "oversize",
        "timeout",
        "typo",
        "retries-over-10",
        "retries-negative",
        "base-delay",
        "max-delay",
    ],
)
def test_a_bad_setting_is_a_config_error_naming_its_key(
    tmp_path: Path, registry: Registry, section: dict[str, Any], expected: str
) -> None:
    """Each invalid value is reported at its dotted key, with what was expected."""
    assert expected in config_error(tmp_path, registry, **section)


def test_the_retry_knobs_are_the_policy_each_bot_api_call_runs_under(
    tmp_path: Path, registry: Registry
) -> None:
    """max_retries, retry_base_delay and retry_max_delay become the publisher's call policy."""
    settings = load_telegram(
        tmp_path, registry, max_retries=5, retry_base_delay=0.5, retry_max_delay=9
    )
    publisher = TelegramPublisher(settings, PublisherContext(tmp_path))
    assert publisher.retry_policy == RetryPolicy(max_retries=5, base_delay=0.5, max_delay=9.0)


def test_a_malformed_token_is_not_repeated_in_the_error(tmp_path: Path, registry: Registry) -> None:
    """The config error about a token says what a token looks like, never what was given."""
    message = config_error(tmp_path, registry, token="123:almost-a-real-secret")
    assert "@BotFather" in message
    assert "almost-a-real-secret" not in message


def test_a_disabled_telegram_section_needs_no_token(tmp_path: Path, registry: Registry) -> None:
    """`enabled: false` with an unset ${TELEGRAM_BOT_TOKEN} is a valid config."""
    section = {"enabled": False, "token": "${TELEGRAM_BOT_TOKEN}", "chat_ids": ["@channel"]}
    config = load_config(write_config(tmp_path, {"telegram": section}), registry, environ={})
    assert config.enabled_platforms == []


def test_a_disabled_telegram_never_imports_aiogram(tmp_path: Path) -> None:
    """Loading a config with the platform disabled imports neither its module nor aiogram,
    and its module imports aiogram only when it first sends."""
    config = write_config(tmp_path, {"telegram": {"enabled": False}, "preview": {"enabled": True}})
    code = (
        "import sys; from pathlib import Path; from daemon.config import load_config; "
        "from daemon.registry import Registry; "
        f"load_config(Path({str(config)!r}), Registry.discover()); "
        "assert 'daemon.publishers.telegram' not in sys.modules; "
        "import daemon.publishers.telegram; "
        "print(sorted(m for m in sys.modules if m.startswith('aiogram')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == "[]"
