"""No secret reaches a log line, an error text or a file dropcast writes, whichever route it came by."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import structlog
import trustme

from daemon.logging import configure_logging
from daemon.registry import Registry
from daemon.secrets import REDACTOR
from tests.conftest import archived, running_daemon, wait_for, write_config, write_post
from tests.fakes.smtp_server import Behaviour, FakeSMTPServer
from tests.test_crash import Dropcast, drop, run_command, wait_until

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


# --- a server that quotes the login back ----------------------------------------------------

LOGIN = "me@example.com"
# Spaces, a slash, a plus and non-ASCII letters: every encoding below differs from the rest.
PASSWORD = "Sm0ke & mirrors/ünï+code?"


def password_forms(login: str, password: str) -> dict[str, str]:
    """The password as an AUTH exchange, a URL or a log line may carry it."""
    raw = password.encode()
    blobs = {
        "password": raw,
        "plain": b"\0" + login.encode() + b"\0" + raw,
        "plain-authzid": login.encode() + b"\0" + login.encode() + b"\0" + raw,
    }
    forms = {"literal": password}
    for name, blob in blobs.items():
        for alphabet, encode in (("std", base64.b64encode), ("url", base64.urlsafe_b64encode)):
            encoded = encode(blob).decode()
            forms[f"{name}-b64-{alphabet}"] = encoded
            forms[f"{name}-b64-{alphabet}-unpadded"] = encoded.rstrip("=")
    forms |= {
        "quote": quote(password, safe=""),
        "quote-slash-safe": quote(password),
        "quote_plus": quote_plus(password),
    }
    return forms


def write_email_config(folder: Path, port: int, ca: trustme.CA) -> Path:
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    email = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": port,
        "security": "starttls",
        "ca_file": "ca.pem",
        "username": LOGIN,
        "password": "${SMTP_PASSWORD}",
        "sender": f"Dropcast <{LOGIN}>",
        "recipients": ["post@example.com"],
        "timeout": 10,
    }
    # preview takes the post, so it is archived as partial and `dropcast retry` takes it up.
    return write_config(
        folder,
        {"email": email, "preview": {"enabled": True, "folder": "preview"}},
        settle_seconds=0.2,
        rescan_seconds=0.5,
        max_attempts=1,
        log={"level": "debug", "format": "json"},
    )


def ledger_bytes(state: Path) -> bytes:
    """The ledger as it lies on disk: the database and whatever its journals hold."""
    names = ("dropcast.db", "dropcast.db-wal", "dropcast.db-journal")
    return b"".join((state / name).read_bytes() for name in names if (state / name).exists())


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_a_server_quoting_the_login_back_leaks_no_form_of_the_password(
    tmp_path: Path, free_tcp_port: int, mechanism: str
) -> None:
    """A 535 that quotes the AUTH arguments leaves no form of the password in the log, record, ledger or `retry`."""
    ca = trustme.CA()
    write_email_config(tmp_path, free_tcp_port, ca)
    runner = Dropcast(tmp_path)
    runner.environ["SMTP_PASSWORD"] = PASSWORD
    server = FakeSMTPServer(
        free_tcp_port,
        security="starttls",
        certificate=ca.issue_cert("127.0.0.1"),
        mechanisms=frozenset({mechanism}),
        behaviour=Behaviour(users={LOGIN: "the-right-one"}, echo_auth=True),
    )
    with server:
        runner.start()
        drop(runner.inbox, "leak")
        wait_until(lambda: len(runner.archived()) == 3, "the archive")
        runner.stop()
        retried = run_command(runner, "retry", "leak")
    assert server.failed_logins == [(mechanism, LOGIN)] * 2  # the daemon's, then retry's
    assert len(server.echoed) == 2
    [record_file] = [path for path in runner.archived() if path.name == "leak.result.json"]
    record = record_file.read_text(encoding="utf-8")
    refused = f"refused the login of {LOGIN} with AUTH {mechanism} (535 5.7.8)"
    assert refused in json.loads(record)["platforms"]["email"]["error"]
    assert refused in retried.stdout + retried.stderr
    places = {
        "log": runner.log.read_text(encoding="utf-8"),
        "record": record,
        "ledger": ledger_bytes(tmp_path / "state").decode("utf-8", errors="replace"),
        "retry": retried.stdout + retried.stderr,
    }
    # CRAM-MD5 sends the login and an HMAC of the challenge, never the password itself.
    if mechanism == "CRAM-MD5":
        assert PASSWORD not in base64.b64decode(server.echoed[0]).decode()
    for place, text in places.items():
        for quoted in server.echoed:
            assert quoted not in text, f"the server's quote is in the {place}"
        for form, value in password_forms(LOGIN, PASSWORD).items():
            assert value not in text, f"the password ({form}) is in the {place}"
