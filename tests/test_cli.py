"""The `dropcast` command as a person runs it: a real process, real signals, exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from daemon import __version__
from tests.conftest import write_post

PREVIEW_ONLY = {"preview": {"enabled": True, "folder": "preview"}}


def dropcast(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon", *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def config_file(folder: Path, platforms: object = None, **core: object) -> Path:
    settings = {
        "settle_seconds": 0.2,
        "platforms": PREVIEW_ONLY if platforms is None else platforms,
        **core,
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


@pytest.fixture
def daemon_process(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """`dropcast run` on a preview-only config in tmp_path, its output piped (so: JSON logs)."""
    config = config_file(tmp_path)
    with subprocess.Popen(
        [sys.executable, "-m", "daemon", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        yield process
        if process.poll() is None:
            process.kill()


def read_events_until(
    process: subprocess.Popen[str], event: str, timeout: float = 20
) -> list[dict[str, object]]:
    """Read JSON log lines from the process until `event` appears."""
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(json.loads(line))
        if seen[-1]["event"] == event:
            return seen
    raise AssertionError(f"{event} never came; saw {[entry['event'] for entry in seen]}")


def test_version_is_printed() -> None:
    """`--version` prints the version and exits 0."""
    result = dropcast("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"dropcast {__version__}")


@pytest.mark.parametrize("command", [[], ["run", "--help"], ["check", "--help"]])
def test_help_is_available_on_each_command(command: list[str]) -> None:
    """`--help` works for the program and every command."""
    result = dropcast(*command, "--help") if not command else dropcast(*command)
    assert result.returncode == 0
    assert "usage: dropcast" in result.stdout


def test_an_unknown_command_is_a_usage_error() -> None:
    """A command dropcast does not have exits 2."""
    assert dropcast("publish-everything").returncode == 2


def test_check_accepts_a_valid_config(tmp_path: Path) -> None:
    """`check` says the config is valid and which platforms are enabled."""
    config = config_file(tmp_path)
    result = dropcast("--config", str(config), "check")
    assert result.returncode == 0
    assert result.stdout.strip() == f"{config}: valid; enabled platforms: preview"


def test_check_names_file_line_and_key_of_a_bad_setting(tmp_path: Path) -> None:
    """`check` exits 1 and says where the problem is and what was expected."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "settle_seconds: 2\nplatforms:\n  preview:\n    enabled: true\n    max_posts: many\n",
        encoding="utf-8",
    )
    result = dropcast("check", "--config", str(config))
    assert result.returncode == 1
    assert (
        f"{config}, line 5: platforms.preview.max_posts: 'many' is not a whole number"
        in result.stderr
    )


def test_check_reports_an_unknown_platform(tmp_path: Path) -> None:
    """A platform name dropcast does not know is an error that lists the known ones."""
    config = config_file(tmp_path, {"myspace": {"enabled": True}})
    result = dropcast("--config", str(config), "check")
    assert result.returncode == 1
    assert "platforms.myspace: unknown platform 'myspace' (known: " in result.stderr
    assert "preview" in result.stderr.split("(known: ")[1]


def test_check_connect_reaches_each_enabled_platform(tmp_path: Path) -> None:
    """`check --connect` reports what each enabled platform answered."""
    config = config_file(tmp_path)
    result = dropcast("--config", str(config), "check", "--connect")
    assert result.returncode == 0
    assert f"preview: ok: gallery at {tmp_path / 'preview' / 'index.html'}" in result.stdout


def test_run_without_a_config_fails_clearly(tmp_path: Path) -> None:
    """`run` with a missing config exits 1 naming the file."""
    result = dropcast("--config", str(tmp_path / "nope.yaml"), "run")
    assert result.returncode == 1
    assert f"{tmp_path / 'nope.yaml'}: the config file does not exist" in result.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_run_publishes_and_exits_cleanly_on_a_stop_signal(
    tmp_path: Path, daemon_process: subprocess.Popen[str], stop_signal: signal.Signals
) -> None:
    """The daemon publishes a dropped post to the preview gallery, then exits 0 on SIGTERM or SIGINT."""
    read_events_until(daemon_process, "daemon.started")
    write_post(tmp_path / "inbox", "cli", "<b>escaped</b>")
    events = read_events_until(daemon_process, "post.published")
    assert events[-1]["outcome"] == "published"
    daemon_process.send_signal(stop_signal)
    read_events_until(daemon_process, "daemon.stopped")
    assert daemon_process.wait(timeout=20) == 0
    page = (tmp_path / "preview" / "index.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;escaped&lt;/b&gt;" in page
    assert sorted(p.name for p in (tmp_path / "archive").glob("*/*")) == [
        "cli.jpg",
        "cli.result.json",
        "cli.txt",
    ]


def test_sighup_reloads_the_config(tmp_path: Path, daemon_process: subprocess.Popen[str]) -> None:
    """SIGHUP makes the daemon re-read its config and say so."""
    read_events_until(daemon_process, "daemon.started")
    daemon_process.send_signal(signal.SIGHUP)
    read_events_until(daemon_process, "config.reload_requested")
    daemon_process.send_signal(signal.SIGTERM)
    assert daemon_process.wait(timeout=20) == 0
