"""The tests' fake platforms, run inside the bench process with a delay, stamping each request.

The fake Bot API (aiohttp) runs on an event loop in a thread of its own and the SMTP server
(aiosmtpd) in its own thread too, so the bench itself can block and poll. Each fake stamps
what it receives with `time.monotonic()`: CLOCK_MONOTONIC is system-wide on Linux, so the
stamps compare with times taken in the daemon's process or the bench's main thread.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from email.parser import BytesHeaderParser
from types import TracebackType
from typing import TypeVar

from tests.fakes.smtp_server import Behaviour, FakeSMTPServer
from tests.fakes.telegram_api import TOKEN, FakeTelegram, Request, fake_telegram

T = TypeVar("T")
__all__ = ["TOKEN", "Fakes", "free_port"]


class StampedList(list[T]):
    """A list that remembers when each item was appended."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[float] = []

    def append(self, item: T) -> None:
        self.stamps.append(time.monotonic())
        super().append(item)


class StampedBehaviour(Behaviour):
    """The SMTP fake's behaviour: it reads `stall_seconds` once per MAIL command, so each
    read is the time a message's sending began."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.mail_stamps: list[float] = []

    @property
    def stall_seconds(self) -> float:
        self.mail_stamps.append(time.monotonic())
        return self.delay

    @stall_seconds.setter
    def stall_seconds(self, value: float) -> None:
        self.delay = value


class TelegramThread:
    """The fake Bot API on 127.0.0.1, answering after `delay` seconds, in a thread."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.fake: FakeTelegram
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._stopping: asyncio.Event
        self._loop: asyncio.AbstractEventLoop

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("the fake Bot API did not start")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=30)

    @property
    def requests(self) -> StampedList[Request]:
        assert isinstance(self.fake.requests, StampedList)
        return self.fake.requests

    async def _serve(self) -> None:
        async with fake_telegram() as fake:
            fake.requests = StampedList()
            if self.delay:
                fake.slow(self.delay)
            self.fake = fake
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            self._ready.set()
            await self._stopping.wait()


class Fakes:
    """The fake Bot API and SMTP server, each answering after its delay; a context manager."""

    def __init__(self, telegram_delay: float, email_delay: float) -> None:
        self.telegram = TelegramThread(telegram_delay)
        self.behaviour = StampedBehaviour(email_delay)
        self.smtp = FakeSMTPServer(free_port(), behaviour=self.behaviour)

    def __enter__(self) -> Fakes:
        self.telegram.start()
        self.smtp.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.smtp.stop()
        self.telegram.stop()

    def first_contact_after(self, moment: float) -> float | None:
        """When a fake first heard from the daemon after `moment` (monotonic), if it has."""
        stamps = [*self.telegram.requests.stamps, *self.behaviour.mail_stamps]
        later = [stamp for stamp in stamps if stamp > moment]
        return min(later) if later else None

    def telegram_captions(self) -> list[str]:
        """The caption of every photo the fake Bot API accepted."""
        return [request.caption or "" for request in self.telegram.fake.sent("sendPhoto")]

    def email_subjects(self) -> list[str]:
        """The subject of every message the SMTP server accepted."""
        parser = BytesHeaderParser()
        return [str(parser.parsebytes(m.content)["Subject"]) for m in self.smtp.received]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
