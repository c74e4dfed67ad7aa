"""Bluesky's reference Personal Data Server for tests, started once per session.

`tests/pds/start-pds.js` runs `@atproto/dev-env`'s `TestNetworkNoAppView`: the real PDS
(SQLite and blobs in a tmp folder) with an in-memory PLC directory, on loopback ports, and
two accounts, alice.test (who posts) and bob.test (who is mentioned), each with an app
password. It prints one JSON line and runs until its stdin closes. When node or the npm
modules are missing the tests that need it are skipped, saying why, unless
DROPCAST_REQUIRE_PDS is set (as `.ci/run` does): then they fail.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

FOLDER = Path(__file__).resolve().parent.parent / "pds"
INSTALL = "(cd tests/pds && npm ci --no-audit --no-fund && npm rebuild better-sqlite3)"
START_SECONDS = 90


@dataclass(frozen=True)
class Account:
    handle: str
    did: str
    password: str  # the account's own password
    app_password: str  # what dropcast logs in with


@dataclass(frozen=True)
class PdsServer:
    url: str
    accounts: dict[str, Account]

    @property
    def alice(self) -> Account:
        return self.accounts["alice.test"]

    @property
    def bob(self) -> Account:
        return self.accounts["bob.test"]


def _missing() -> str | None:
    """Why the PDS cannot start here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (the Bluesky tests run the reference PDS on Node 20)"
    if not (FOLDER / "node_modules" / "@atproto" / "dev-env").is_dir():
        return f"the reference PDS is not installed: run {INSTALL}"
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("DROPCAST_REQUIRE_PDS"):
        pytest.fail(f"DROPCAST_REQUIRE_PDS is set but {reason}")
    pytest.skip(reason)


def _read_line(stream: IO[bytes], process: subprocess.Popen[bytes], log: Path) -> bytes:
    """The first line of `stream`, within START_SECONDS."""
    deadline = time.monotonic() + START_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.5):
                return stream.readline()
            if process.poll() is not None:
                break
    tail = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the PDS did not start: {tail or 'no output'}")


def _start(tmp: Path) -> tuple[subprocess.Popen[bytes], PdsServer]:
    log = tmp / "pds.log"
    env = {**os.environ, "TMPDIR": str(tmp), "LOG_ENABLED": "false"}
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            ["node", "start-pds.js"],
            cwd=FOLDER,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    assert process.stdout is not None
    try:
        found = json.loads(_read_line(process.stdout, process, log))
    except Exception:
        _stop(process)
        raise
    accounts = {item["handle"]: Account(**item) for item in found["accounts"]}
    return process, PdsServer(found["dropcast_pds"], accounts)


def _stop(process: subprocess.Popen[bytes]) -> None:
    assert process.stdin is not None
    process.stdin.close()  # start-pds.js closes the network when its stdin ends
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


# The one server of the session: each test module imports `pds`, and so has a fixture of its
# own; the first starts the server, the others find it here, the last to end stops it.
_started: list[tuple[subprocess.Popen[bytes], PdsServer, Path]] = []
_users = [0]


@pytest.fixture(scope="session")
def pds() -> Iterator[PdsServer]:
    """The reference PDS on loopback, for the session (skipped, saying why, if not installed).

    Import it into a test module: `from tests.fakes.pds import pds`.
    """
    reason = _missing()
    if reason is not None:
        _unavailable(reason)
    if not _started:
        tmp = Path(tempfile.mkdtemp(prefix="dropcast-pds-"))
        try:
            _started.append((*_start(tmp), tmp))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    _users[0] += 1
    try:
        yield _started[0][1]
    finally:
        _users[0] -= 1
        if _users[0] == 0:
            process, _, tmp = _started.pop()
            _stop(process)
            shutil.rmtree(tmp, ignore_errors=True)
