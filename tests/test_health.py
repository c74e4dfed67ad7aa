"""`dropcast health`: what a container's HEALTHCHECK runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from daemon.health import STALE_AFTER_SECONDS, check_heartbeat, write_heartbeat
from daemon.registry import Registry
from tests.conftest import running_daemon, wait_for, write_config


def health(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon", "--config", str(config), "health"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def preview_config(folder: Path) -> Path:
    config = folder / "config.yaml"
    config.write_text(
        yaml.safe_dump({"platforms": {"preview": {"enabled": True}}}), encoding="utf-8"
    )
    return config


def test_a_fresh_heartbeat_is_healthy(tmp_path: Path) -> None:
    """A heartbeat written just now by the loop makes `health` exit 0."""
    config = preview_config(tmp_path)
    (tmp_path / "state").mkdir()
    write_heartbeat(tmp_path / "state", "watching")
    result = health(config)
    assert (result.returncode, result.stdout.strip()) == (0, "healthy")


def test_no_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    """Without a running daemon, `health` exits 1 and says so in one line."""
    result = health(preview_config(tmp_path))
    assert result.returncode == 1
    assert result.stdout.startswith("unhealthy: no heartbeat at")
    assert len(result.stdout.strip().splitlines()) == 1


def test_an_old_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    """A heartbeat older than the limit means a stuck or dead loop."""
    (tmp_path / "state").mkdir()
    write_heartbeat(tmp_path / "state", "watching")
    problem = check_heartbeat(tmp_path / "state", now=time.time() + STALE_AFTER_SECONDS + 5)
    assert problem is not None
    assert "the daemon is stuck or stopped" in problem


def test_an_invalid_config_is_named_but_the_heartbeat_decides(tmp_path: Path) -> None:
    """A config that does not validate is named in the line; a fresh heartbeat is still healthy
    (the daemon runs on its last good config), so a container is not marked unhealthy."""
    config = tmp_path / "config.yaml"
    config.write_text("settle_seconds: never\n", encoding="utf-8")
    (tmp_path / "state").mkdir()
    write_heartbeat(tmp_path / "state", "watching")
    result = health(config)
    assert result.returncode == 0
    assert result.stdout.startswith(f"healthy (the config is not valid: {config}, line 1")
    assert len(result.stdout.strip().splitlines()) == 1


async def test_the_running_daemon_keeps_its_heartbeat_and_removes_it_on_stop(
    tmp_path: Path, registry: Registry
) -> None:
    """The daemon writes the heartbeat while it runs and deletes it when it stops cleanly."""
    config = write_config(tmp_path)
    heartbeat = tmp_path / "state" / "heartbeat"
    async with running_daemon(config, registry):
        await wait_for(heartbeat.exists, what="the heartbeat")
        assert check_heartbeat(tmp_path / "state") is None
        assert json.loads(heartbeat.read_text(encoding="utf-8"))["status"].startswith("watching")
    assert not heartbeat.exists()
