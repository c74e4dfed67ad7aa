"""A real mail server for tests: Postfix with Dovecot SASL, started by hand on 127.0.0.1.

Both run from their own folders (config, queue, sockets, logs) under a tmp dir, so the
machine's own mail setup is never touched; messages are delivered to Maildirs there by
Postfix's virtual(8) agent. Each listening port is one server behaviour dropcast must
handle (see `PORTS`). Needs root and Debian's `postfix` and `dovecot-core`; when they are
missing or do not start, `start_mail_server` skips the tests that need it, saying why.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
import trustme

PASSWORD = "Postfix-t3st-pass"
USER = "me@example.com"
MAILBOXES = ("post", "copy", "full", "gone", "me")
# The recipient access map: one recipient deferred (mailbox full), one refused.
REFUSALS = {
    "full@example.com": "452 4.2.2 Mailbox full",
    "gone@example.com": "550 5.1.1 No such user",
}
SLOW_SECONDS = 3  # how long the `slow` port waits before answering the end of the data
SIZE_LIMIT = 40_000  # bytes: the `small` port's message_size_limit
# Each port's master.cf options; every port uses the recipient access map above.
PORTS: dict[str, tuple[str, ...]] = {
    "plain": (),  # no TLS, no login: the refusals and sizes work the same on every port
    "submission": (  # STARTTLS, then a login, as a provider's port 587
        "smtpd_tls_security_level=encrypt",
        "smtpd_sasl_auth_enable=yes",
        "smtpd_client_restrictions=permit_sasl_authenticated,reject",
    ),
    "tls": (  # implicit TLS (port 465 style), then a login
        "smtpd_tls_wrappermode=yes",
        "smtpd_sasl_auth_enable=yes",
        "smtpd_client_restrictions=permit_sasl_authenticated,reject",
    ),
    "slow": ("smtpd_end_of_data_restrictions=$slow_end_of_data",),
    "small": (f"message_size_limit={SIZE_LIMIT}",),
    "untrusted": (  # STARTTLS with a certificate from a CA nobody trusts
        "smtpd_tls_security_level=encrypt",
        "smtpd_tls_chain_files=$untrusted_chain",
    ),
}
QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")


@dataclass(frozen=True)
class MailServer:
    """A running Postfix (and Dovecot): its ports by name, its CA, its Maildirs and its log."""

    folder: Path
    ports: dict[str, int]
    ca_file: Path

    def messages(self, mailbox: str) -> list[EmailMessage]:
        """Every message delivered to `mailbox` (its local part), oldest first."""
        found: list[EmailMessage] = []
        for path in self._files(mailbox):
            message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            assert isinstance(message, EmailMessage)
            found.append(message)
        return found

    def raw_messages(self, mailbox: str) -> list[str]:
        """Every message delivered to `mailbox`, as stored (ASCII, LF line ends)."""
        return [path.read_text(encoding="ascii") for path in self._files(mailbox)]

    def _files(self, mailbox: str) -> list[Path]:
        folder = self.folder / "mail" / mailbox
        files = [*(folder / "new").glob("*"), *(folder / "cur").glob("*")]
        return sorted(files, key=lambda path: path.stat().st_mtime_ns)

    def copies(self, mailbox: str, subject: str) -> int:
        """How many messages with this Subject `mailbox` got."""
        return sum(message["Subject"] == subject for message in self.messages(mailbox))

    def log(self) -> str:
        return (self.folder / "maillog").read_text(encoding="utf-8", errors="replace")

    def settled(self, within: float = 20.0) -> None:
        """Wait until Postfix has nothing left in its queues: every message delivered."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not any(
                path.is_file()
                for queue in QUEUES
                for path in (self.folder / "queue" / queue).rglob("*")
            ):
                return
            time.sleep(0.05)
        raise AssertionError(f"Postfix still has mail queued after {within} s:\n{self.log()}")


def start_mail_server() -> Iterator[MailServer]:
    """Configure and start Postfix and Dovecot in a new folder; stop them and remove it after."""
    reason = _cannot_run()
    if reason is not None:
        pytest.skip(f"no real mail server: {reason}")
    # Not under pytest's tmp folders: those are private to root, and Postfix's users must
    # reach their queue and Maildirs.
    folder = Path(tempfile.mkdtemp(prefix="dropcast-postfix-"))
    folder.chmod(0o755)
    try:
        yield from _serve(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _serve(folder: Path) -> Iterator[MailServer]:
    ports = {name: _free_port() for name in PORTS}
    ca_file = _write_certificates(folder)
    _write_dovecot(folder)
    _write_postfix(folder, ports)
    try:
        _run(
            ["dovecot", "-c", str(folder / "dovecot" / "dovecot.conf")],
            "start Dovecot",
            folder / "start.log",
        )
        _run(
            ["postfix", "-c", str(folder / "postfix"), "start"],
            "start Postfix",
            folder / "start.log",
        )
        _wait_listening(ports.values())
    except _StartError as error:
        _stop(folder)
        log = folder / "maillog"
        said = log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.exists() else ""
        pytest.skip(f"no real mail server: {error} {said}".strip())
    try:
        yield MailServer(folder, ports, ca_file)
    finally:
        _stop(folder)


class _StartError(Exception):
    pass


def _cannot_run() -> str | None:
    missing = [tool for tool in ("postfix", "dovecot") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (apt-get install postfix dovecot-core)"
    if os.geteuid() != 0:
        return "Postfix and Dovecot must be started as root"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "no postfix user"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _write_certificates(folder: Path) -> Path:
    tls = folder / "tls"
    tls.mkdir(parents=True)
    ca, stranger = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(str(tls / "ca.pem"))
    for name, issuer in (("server", ca), ("untrusted", stranger)):
        leaf = issuer.issue_cert("127.0.0.1", "localhost")
        leaf.private_key_pem.write_to_path(str(tls / f"{name}.key"))
        leaf.cert_chain_pems[0].write_to_path(str(tls / f"{name}.crt"))
    return tls / "ca.pem"


def _write_dovecot(folder: Path) -> None:
    dovecot = folder / "dovecot"
    (dovecot / "run").mkdir(parents=True)
    (dovecot / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n", encoding="utf-8")
    (dovecot / "dovecot.conf").write_text(
        f"""\
protocols =
base_dir = {dovecot}/run
state_dir = {dovecot}/state
log_path = {folder}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5
auth_verbose = yes
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = {dovecot}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}}
service auth {{
  unix_listener auth-postfix {{
    mode = 0666
  }}
}}
""",
        encoding="utf-8",
    )


def _write_postfix(folder: Path, ports: dict[str, int]) -> None:
    config = folder / "postfix"
    config.mkdir()
    for path in (folder / "queue", folder / "data", folder / "mail"):
        path.mkdir()
    (folder / "data").chmod(0o700)
    shutil.chown(folder / "data", "postfix")
    shutil.chown(folder / "mail", "nobody", "nogroup")
    (config / "mailboxes").write_text(
        "".join(f"{name}@example.com {name}/\n" for name in MAILBOXES), encoding="utf-8"
    )
    (config / "recipient_access").write_text(
        "".join(f"{address} {reply}\n" for address, reply in REFUSALS.items()), encoding="utf-8"
    )
    (config / "main.cf").write_text(_main_cf(folder), encoding="utf-8")
    (config / "master.cf").write_text(_master_cf(ports), encoding="utf-8")


def _main_cf(folder: Path) -> str:
    config, tls = folder / "postfix", folder / "tls"
    nobody = pwd.getpwnam("nobody")
    return f"""\
compatibility_level = 3.6
queue_directory = {folder}/queue
data_directory = {folder}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = {folder}/maillog
maillog_file_prefixes = {folder}
myhostname = mail.dropcast.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtputf8_enable = no
smtpd_peername_lookup = no
smtpd_error_sleep_time = 0s
alias_maps =
alias_database =
default_transport = error:this test server delivers only to example.com
relay_transport = error:this test server delivers only to example.com
virtual_mailbox_domains = example.com
virtual_mailbox_base = {folder}/mail
virtual_mailbox_maps = texthash:{config}/mailboxes
virtual_minimum_uid = 1
virtual_uid_maps = static:{nobody.pw_uid}
virtual_gid_maps = static:{nobody.pw_gid}
smtpd_recipient_restrictions =
    check_recipient_access texthash:{config}/recipient_access,
    permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_sasl_type = dovecot
smtpd_sasl_path = {folder}/dovecot/run/auth-postfix
smtpd_tls_chain_files = {tls}/server.key, {tls}/server.crt
smtpd_tls_security_level = may
untrusted_chain = {tls}/untrusted.key, {tls}/untrusted.crt
slow_end_of_data = sleep {SLOW_SECONDS}, permit
"""


_SERVICES = """\
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def _master_cf(ports: dict[str, int]) -> str:
    lines = []
    for name, port in ports.items():
        options = "".join(
            f" -o {option}" for option in (f"syslog_name=postfix/{name}", *PORTS[name])
        )
        lines.append(f"127.0.0.1:{port} inet n - n - - smtpd{options}\n")
    return "".join(lines) + _SERVICES


def _run(command: list[str], what: str, output: Path) -> None:
    # To a file, not a pipe: the daemons keep what they inherit open, so a pipe never ends.
    with output.open("ab") as sink:
        done = subprocess.run(command, stdout=sink, stderr=sink, timeout=30, check=False)
    if done.returncode != 0:
        said = output.read_text(encoding="utf-8", errors="replace").strip()
        raise _StartError(f"could not {what} (exit {done.returncode}): {said}")


def _wait_listening(ports: Iterable[int], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise _StartError(f"nothing listens on port {port}") from None
                time.sleep(0.05)


def _stop(folder: Path) -> None:
    """Stop Postfix, then Dovecot (by the pid in its own run folder)."""
    if (folder / "queue" / "pid" / "master.pid").exists():
        subprocess.run(
            ["postfix", "-c", str(folder / "postfix"), "stop"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    pid_file = folder / "dovecot" / "run" / "master.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text(encoding="ascii").strip())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
