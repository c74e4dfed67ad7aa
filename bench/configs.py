"""The configs the bench runs dropcast with: which platforms, against which fakes, how slow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.fakes import TOKEN, Fakes

SETTLE_SECONDS = 0.5
MAX_CONCURRENT_POSTS = 4  # dropcast's default, written out so the burst figure can use it


@dataclass(frozen=True)
class Platforms:
    """Which platforms are enabled; the gate's delay (the fakes carry their own)."""

    preview: bool = True
    telegram: bool = True
    email: bool = True
    gate_delay: float | None = 0.0  # None: the gate is not enabled
    instagram_proxy: int | None = None  # a refusing loopback port: Instagram is enabled


PREVIEW_ONLY = Platforms(telegram=False, email=False, gate_delay=None)


def daemon_config(platforms: Platforms, fakes: Fakes | None) -> dict[str, Any]:
    """A whole config.yaml (paths relative to its folder) for `platforms` against `fakes`."""
    return {
        "inbox": "inbox",
        "archive": "archive",
        "failed": "failed",
        "state": "state",
        "settle_seconds": SETTLE_SECONDS,
        "max_concurrent_posts": MAX_CONCURRENT_POSTS,
        "log": {"level": "info", "format": "json"},
        "platforms": _sections(platforms, fakes),
    }


def _sections(platforms: Platforms, fakes: Fakes | None) -> dict[str, Any]:
    sections: dict[str, Any] = {}
    if platforms.preview:
        sections["preview"] = {"enabled": True, "folder": "preview"}
    if fakes is not None and platforms.telegram:
        sections["telegram"] = _telegram(fakes)
    if fakes is not None and platforms.email:
        sections["email"] = _email(fakes)
    if platforms.gate_delay is not None:
        sections["gate"] = {"enabled": True, "folder": "signals", "delay": platforms.gate_delay}
    if platforms.instagram_proxy is not None:
        sections["instagram"] = _instagram(platforms.instagram_proxy)
    return sections


def _telegram(fakes: Fakes) -> dict[str, Any]:
    return {
        "enabled": True,
        "token": TOKEN,  # the fake's: well-formed, and worthless anywhere else
        "chat_ids": ["@dropcast_bench"],
        "api_server": fakes.telegram.fake.url,
    }


def _email(fakes: Fakes) -> dict[str, Any]:
    return {
        "enabled": True,
        "host": "127.0.0.1",
        "port": fakes.smtp.port,
        "security": "none",
        "sender": "bench@example.com",
        "recipients": ["post@example.com"],
        "subject": "{stem}",
    }


def _instagram(proxy_port: int) -> dict[str, Any]:
    """Instagram through a proxy on a loopback port that refuses: its library loads, every
    request fails at once, and nothing leaves the machine."""
    return {
        "enabled": True,
        "username": "dropcast.bench",
        "password": "not-a-password",
        "proxy": f"http://127.0.0.1:{proxy_port}",
        "delay_range": [0, 0],
        "min_interval_seconds": 0,
        "request_timeout": 5,
    }
