"""The container's pieces that run without a Docker engine: the entrypoint and the image's files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import make_image

ROOT = Path(__file__).parent.parent
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
NOBODY = 65534
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)


@pytest.fixture
def data_folder() -> Iterator[Path]:
    """A folder any user may enter (tmp_path's parents are private to root), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="dropcast-container-"))
    folder.chmod(0o777)
    for name in ("inbox", "archive", "failed", "state", "preview"):
        (folder / name).mkdir(mode=0o777)
        (folder / name).chmod(0o777)
    config = {
        "inbox": str(folder / "inbox"),
        "archive": str(folder / "archive"),
        "failed": str(folder / "failed"),
        "state": str(folder / "state"),
        "settle_seconds": 0.2,
        "shutdown_grace_seconds": 5,
        "log": {"format": "json"},
        "platforms": {"preview": {"enabled": True, "folder": str(folder / "preview")}},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (folder / "config.yaml").chmod(0o644)
    yield folder
    shutil.rmtree(folder)


def entrypoint(folder: Path, **environ: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DROPCAST_CONFIG": str(folder / "config.yaml"),
        "DROPCAST_STATE": str(folder / "state"),
        **environ,
    }
    return subprocess.Popen(
        ["sh", str(ENTRYPOINT), "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_event(process: subprocess.Popen[str], event: str) -> dict[str, object]:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("{") and json.loads(line)["event"] == event:
            return json.loads(line)  # type: ignore[no-any-return]
    raise AssertionError(f"the process ended before {event}")


def uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


@needs_root
def test_the_entrypoint_drops_root_for_puid_and_stops_on_sigterm(data_folder: Path) -> None:
    """Started as root with PUID/PGID, dropcast runs as that user, publishes, and exits 0 soon after SIGTERM."""
    with entrypoint(data_folder, PUID=str(NOBODY), PGID=str(NOBODY)) as process:
        wait_for_event(process, "daemon.started")
        assert uid_of(process.pid) == NOBODY
        make_image(data_folder / "inbox" / "boxed.jpg")
        (data_folder / "inbox" / "boxed.txt").write_text("from a container", encoding="utf-8")
        wait_for_event(process, "post.published")
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert time.monotonic() - stopped_at < 5  # well inside the grace period
    record = next((data_folder / "archive").glob("*/boxed.result.json"))
    assert record.stat().st_uid == NOBODY  # written by dropcast, as PUID


@needs_root
def test_the_entrypoint_refuses_to_run_dropcast_as_root(data_folder: Path) -> None:
    """PUID=0 is refused with a message, before dropcast starts."""
    with entrypoint(data_folder, PUID="0") as process:
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 1
    assert "refusing to run as root" in output


def test_the_image_copies_only_files_that_exist_and_are_not_ignored() -> None:
    """Every COPY source in the Dockerfile exists and is let through by .dockerignore."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    sources = [
        source
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    ]
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert any(source == entry or source.startswith(f"{entry}/") for entry in allowed), source


def test_the_image_config_is_valid() -> None:
    """The config baked into the image validates."""
    result = subprocess.run(
        [sys.executable, "-m", "daemon", "--config", str(ROOT / "docker" / "config.yaml"), "check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
