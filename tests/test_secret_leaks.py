"""No secret reaches a log line, an error text or a file dropcast writes, whichever route it came by."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from daemon.logging import configure_logging
from daemon.publishers.base import Registry
from daemon.secrets import REDACTOR
from tests.conftest import archived, running_daemon, wait_for, write_config, write_post

SECRETS = {
    "env": "env-Secret-7781",
    "file": "file-Secret-5532",
    "credential": "credential-Secret-9920",
}


@pytest.fixture
def json_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    REDACTOR.replace_secrets([])


def text_dropcast_wrote(folder: Path, *sources: Path) -> str:
    """Every file under `folder` but the secret sources themselves, as one text."""
    files = [
        p for p in folder.rglob("*") if p.is_file() and not any(s in p.parents for s in sources)
    ]
    return "".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


async def test_secrets_from_every_route_never_leak(
    tmp_path: Path, registry: Registry, capsys: pytest.CaptureFixture[str], json_logging: None
) -> None:
    """Tokens from ${ENV}, ${file:…} and ${credential:…} are used, then appear in no output or file."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "token").write_text(SECRETS["file"] + "\n", encoding="utf-8")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "token").write_text(SECRETS["credential"], encoding="utf-8")
    platforms = {
        "recording": {"enabled": True, "label": "env", "behaviour": "raise", "token": "${TOKEN}"},
        "recording2": {
            "enabled": True,
            "label": "file",
            "behaviour": "raise",
            "token": "${file:secrets/token}",
        },
        "recording3": {
            "enabled": True,
            "label": "credential",
            "behaviour": "raise",
            "token": "${credential:token}",
        },
    }
    config = write_config(
        tmp_path, platforms, max_attempts=1, log={"level": "debug", "format": "json"}
    )
    environ = {"TOKEN": SECRETS["env"], "CREDENTIALS_DIRECTORY": str(credentials)}
    configure_logging("debug", "json")
    async with running_daemon(config, registry, environ=environ):
        write_post(tmp_path / "inbox", "leaky")
        await wait_for(lambda: (tmp_path / "failed" / "leaky.result.json").exists(), what="failed/")
    output = capsys.readouterr()
    assert '"platform.crashed"' in output.out  # the exceptions, with their text, were logged
    written = text_dropcast_wrote(tmp_path, secrets, credentials)
    for route, secret in SECRETS.items():
        assert secret not in output.out + output.err, f"the {route} secret is in the log"
        assert secret not in written, f"the {route} secret is in a file"
    assert "[redacted]" in (tmp_path / "failed" / "leaky.result.json").read_text(encoding="utf-8")
    assert archived(tmp_path) == []
