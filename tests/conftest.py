"""Shared fixtures: real folders in tmp_path, real images, a config file, a running daemon."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from PIL import Image

from daemon.registry import Registry
from daemon.service import Daemon
from tests.fakes import publishers as fake_publishers
from tests.fakes.postfix import MailServer, start_mail_server

TEST_PACKAGES = ("daemon.publishers", "tests.fakes.publishers")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp and aiosmtpd run only there


@pytest.fixture(autouse=True)
def _fresh_fakes() -> None:
    fake_publishers.RECEIVED.clear()
    fake_publishers.RECEIVED_AT.clear()
    fake_publishers.BARRIER.__init__()  # type: ignore[misc]
    fake_publishers.OCCUPANCY.__init__()  # type: ignore[misc]


@pytest.fixture(scope="session")
def mail_server() -> Iterator[MailServer]:
    """A real Postfix with Dovecot SASL on 127.0.0.1 (tests/fakes/postfix.py), for the session."""
    yield from start_mail_server()


@pytest.fixture
def registry() -> Registry:
    return Registry.discover(packages=TEST_PACKAGES, entry_point_group=None)


def make_image(
    path: Path,
    size: tuple[int, int] = (64, 48),
    image_format: str = "JPEG",
    colour: tuple[int, int, int] = (180, 90, 40),
) -> Path:
    """Write a real image file and return its path."""
    Image.new("RGB", size, colour).save(path, image_format)
    return path


def write_post(inbox: Path, stem: str, caption: str | None = None, suffix: str = ".jpg") -> Path:
    """Drop an image and its caption (by default one naming the stem), the caption last."""
    caption = f"A caption for {stem}" if caption is None else caption
    image = make_image(
        inbox / f"{stem}{suffix}", image_format="PNG" if suffix == ".png" else "JPEG"
    )
    (inbox / f"{stem}.txt").write_text(caption, encoding="utf-8")
    return image


def write_album(
    inbox: Path, stem: str, count: int, caption: str | None = None, suffix: str = ".jpg"
) -> list[Path]:
    """Drop an album: `stem.1` … `stem.<count>`, each a different picture, then its caption."""
    caption = f"A caption for the album {stem}" if caption is None else caption
    image_format = "PNG" if suffix.lower() == ".png" else "JPEG"
    images = [
        make_image(
            inbox / f"{stem}.{n}{suffix}", image_format=image_format, colour=(n * 20 % 256, 90, 40)
        )
        for n in range(1, count + 1)
    ]
    (inbox / f"{stem}.txt").write_text(caption, encoding="utf-8")
    return images


def write_config(folder: Path, platforms: dict[str, Any] | None = None, **core: Any) -> Path:
    """A config.yaml in `folder` with test-friendly timings; `core` overrides top-level keys."""
    settings: dict[str, Any] = {
        "inbox": "inbox",
        "archive": "archive",
        "failed": "failed",
        "state": "state",
        "settle_seconds": 0.3,
        "rescan_seconds": 30,
        "publish_timeout": 10,
        "shutdown_grace_seconds": 5,
        "platforms": platforms if platforms is not None else {"recording": {"enabled": True}},
    }
    settings.update(core)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    (folder / "inbox").mkdir(exist_ok=True)
    return path


def inbox_files(folder: Path) -> list[str]:
    """The names of the posts' files left in the inbox (not dropcast's hidden lock file)."""
    return sorted(p.name for p in (folder / "inbox").iterdir() if not p.name.startswith("."))


def archived(folder: Path) -> list[Path]:
    """Every file in the archive's day folders, sorted by name; not the half-written copies
    dropcast moves and writes through (a record being written is not there yet)."""
    return sorted(
        p
        for p in (folder / "archive").glob("*/*")
        if (p.is_file() or p.is_symlink()) and not p.name.startswith(".dropcast-tmp-")
    )


async def wait_for(condition: Callable[[], Any], within: float = 10.0, what: str = "") -> Any:
    """Poll `condition` until it is truthy; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        await anyio.sleep(0.02)
    raise AssertionError(f"timed out after {within} s waiting for {what or condition}")


@asynccontextmanager
async def running_daemon(
    config_path: Path, registry: Registry, **kwargs: Any
) -> AsyncIterator[Daemon]:
    """The real daemon with its real watcher, running in this test's event loop."""
    daemon = Daemon(
        config_path, registry, handle_signals=False, environ=kwargs.pop("environ", os.environ)
    )
    async with anyio.create_task_group() as group:
        await group.start(daemon.run)
        try:
            yield daemon
        finally:
            daemon.stop()
