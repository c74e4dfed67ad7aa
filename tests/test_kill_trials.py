"""Twenty kill -9s at random moments of a freshly started dropcast with Telegram and e-mail.

Each trial starts dropcast as a process on a fresh state folder, drops a post, kills the
process at a random moment (most land while aiogram is still being imported, as on a systemd
crash loop), starts it again and lets it finish. Across the trials: no post is lost, no chat
or recipient gets a post twice, and every destination the ledger calls `unknown` really was
reached (nothing that was never sent needs the owner's hand). A request counts as reached
when its first bytes reach the fake, whether or not the kill let it finish.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal

from tests.fakes.smtp_server import FakeSMTPServer
from tests.fakes.telegram_api import TOKEN, FakeTelegram, fake_telegram
from tests.test_crash import Dropcast, drop, record, wait_until

TRIALS = 20
CHATS = ("@channel", "-100123")
RECIPIENTS = ("post@example.com", "me@example.com")


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    """The fake Bot API in a thread of its own: the test waits on processes, not a loop."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(fake_telegram()) as fake,
    ):
        yield fake


def _configure(runner: Dropcast, telegram: FakeTelegram, smtp_port: int) -> None:
    platforms = {
        "telegram": {
            "enabled": True,
            "token": "${TELEGRAM_BOT_TOKEN}",
            "chat_ids": list(CHATS),
            "api_server": telegram.url,
        },
        "email": {
            "enabled": True,
            "host": "127.0.0.1",
            "port": smtp_port,
            "security": "none",
            "sender": "dropcast@example.com",
            "recipients": list(RECIPIENTS),
        },
    }
    runner.write_config(platforms, publish_timeout=60, log={"format": "json", "level": "info"})
    runner.environ["TELEGRAM_BOT_TOKEN"] = TOKEN


def _photos(telegram: FakeTelegram, stem: str, chat: str) -> int:
    return sum(stem in (r.caption or "") for r in telegram.sent("sendPhoto", chat))


def _reached(telegram: FakeTelegram, stem: str, chat: str) -> int:
    """Requests with the post's caption that began to arrive for `chat`, whole or cut off."""
    return sum(
        fields.get("chat_id") == chat and stem in fields.get("caption", "")
        for fields in telegram.arrivals
    )


def _mails(smtp: FakeSMTPServer, stem: str, recipient: str) -> int:
    def subject(message: EmailMessage) -> str:
        return str(message["Subject"])

    return sum(recipient in m.rcpt_tos and stem in subject(m.parsed()) for m in list(smtp.received))


def _trial(
    folder: Path, stem: str, pause: float, telegram: FakeTelegram, smtp: FakeSMTPServer
) -> dict[str, Any]:
    """One kill and restart; what each destination got and what the record says."""
    folder.mkdir()
    runner = Dropcast(folder)
    _configure(runner, telegram, smtp.port)
    try:
        runner.start()
        drop(runner.inbox, stem)
        time.sleep(pause)
        runner.kill()
        runner.start()
        records = folder / "archive"
        wait_until(lambda: any(records.glob(f"*/{stem}.result.json")), f"{stem}'s record", 60)
    finally:
        runner.stop()
    got = {chat: _photos(telegram, stem, chat) for chat in CHATS}
    got |= {address: _mails(smtp, stem, address) for address in RECIPIENTS}
    reached = {chat: _reached(telegram, stem, chat) for chat in CHATS}
    return {"got": got, "reached": {**got, **reached}, "record": record(runner, stem)}


def _in_doubt(trial: dict[str, Any]) -> dict[str, str]:
    """Each destination the record calls unknown, by the name the fakes count it under."""
    found = {}
    for platform in trial["record"]["platforms"].values():
        for name, destination in platform["destinations"].items():
            if destination["state"] == "unknown":
                found[name.partition("#")[0]] = name
    return found


@pytest.mark.timeout(900)
def test_random_kills_lose_nothing_repeat_nothing_and_leave_nothing_unknown_unsent(
    tmp_path: Path, telegram: FakeTelegram, free_tcp_port: int
) -> None:
    """20 trials: every post archived, each destination at most once (exactly once when the
    ledger says sent), and no `unknown` that never reached its destination."""
    chooser = random.Random(20261202)  # the same moments on every run
    trials = []
    with FakeSMTPServer(free_tcp_port) as smtp:
        for number in range(TRIALS):
            stem = f"trial{number:02d}"
            pause = chooser.uniform(0.0, 6.0)
            trials.append(_trial(tmp_path / stem, stem, pause, telegram, smtp))
    repeated = [t for t in trials if any(count > 1 for count in t["got"].values())]
    unsent_unknown = [
        (t["record"]["post"], name)
        for t in trials
        for where, name in _in_doubt(t).items()
        if t["reached"][where] == 0
    ]
    missing = [
        (t["record"]["post"], where)
        for t in trials
        for platform in t["record"]["platforms"].values()
        for name, destination in platform["destinations"].items()
        if destination["state"] == "sent" and t["got"][(where := name.partition("#")[0])] != 1
    ]
    assert repeated == []
    assert unsent_unknown == []
    assert missing == []
    assert all(t["record"]["outcome"] in ("published", "partial") for t in trials)
