"""The systemd unit: valid, hardened to the target, and its hardening fits what dropcast does."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import write_post

UNIT = Path(__file__).parent.parent / "systemd" / "dropcast.service"
needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (.ci/run installs it)",
)


def unit_with_real_paths(folder: Path) -> Path:
    """The unit with ExecStart pointing at this environment's dropcast, so `verify` can check it."""
    text = UNIT.read_text(encoding="utf-8").replace(
        "/opt/dropcast/venv/bin/dropcast", str(Path(sys.executable).with_name("dropcast"))
    )
    copy = folder / "dropcast.service"
    copy.write_text(text, encoding="utf-8")
    return copy


@needs_systemd_analyze
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` finds nothing wrong with the unit."""
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit_with_real_paths(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


@needs_systemd_analyze
def test_the_unit_exposure_is_at_most_2() -> None:
    """`systemd-analyze security --offline=true` rates the unit 2.0 or better."""
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for dropcast\.service: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0


def test_the_unit_keeps_secrets_out_and_uses_notify() -> None:
    """The unit is Type=notify with a watchdog and SIGHUP reload, and holds no secret values."""
    text = UNIT.read_text(encoding="utf-8")
    for line in (
        "Type=notify",
        "WatchdogSec=60s",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
    ):
        assert line in text.splitlines()
    assert not re.search(r"(?im)^\s*Environment=.*(token|password|secret)", text)


def mdwe_is_available() -> bool:
    """Whether this kernel has PR_SET_MDWE, the per-process form of MemoryDenyWriteExecute=."""
    probe = "import ctypes, sys; sys.exit(ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) != 0)"
    return subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


# Turn on "memory deny write execute" for the process, load every platform's library, run dropcast.
UNDER_MDWE = """
import ctypes, runpy, sys
assert ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) == 0
import aiogram, aiosmtplib, instagrapi, curl_cffi.requests, PIL.Image
sys.argv = ["dropcast", *sys.argv[1:]]
runpy.run_module("daemon", run_name="__main__")
"""


@pytest.mark.skipif(not mdwe_is_available(), reason="kernel without PR_SET_MDWE (Linux < 6.3)")
def test_dropcast_works_without_writable_executable_memory(tmp_path: Path) -> None:
    """Under the same rule as MemoryDenyWriteExecute=yes, dropcast imports every platform library and publishes."""
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"settle_seconds": 0.2, "platforms": {"preview": {"enabled": True}}}),
        encoding="utf-8",
    )
    (tmp_path / "inbox").mkdir()
    with subprocess.Popen(
        [sys.executable, "-c", UNDER_MDWE, "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if '"daemon.started"' in line:
                break
        write_post(tmp_path / "inbox", "mdwe")
        for line in process.stdout:
            if '"post.published"' in line:
                break
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert sorted(p.name for p in (tmp_path / "archive").glob("*/*")) == [
        "mdwe.jpg",
        "mdwe.result.json",
        "mdwe.txt",
    ]
