"""Test platforms, found by the real registry like any publisher (see `test_registry`).

Each is configured in `config.yaml` like a real platform; what it received is kept in
`RECEIVED`, keyed by the `label` setting, so a test can look at it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Literal

import anyio
from pydantic import SecretStr

from daemon.post import Post
from daemon.publisher import Publisher, PublishResult
from daemon.settings import PlatformSettings

RECEIVED: defaultdict[str, list[Post]] = defaultdict(list)
RECEIVED_AT: defaultdict[str, list[float]] = defaultdict(list)  # time.monotonic() of each


class Occupancy:
    """How many posts a recording platform is publishing at once, and the most it ever was."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def enter(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        self.now -= 1


OCCUPANCY = Occupancy()


class RecordingSettings(PlatformSettings):
    label: str = "recording"
    behaviour: Literal["ok", "fail", "raise", "hang", "socket_timeout"] = "ok"
    fail_first: int = 0  # refuse this many posts before behaving as `behaviour` says
    delay: float = 0.0
    token: SecretStr | None = None


class RecordingPublisher(Publisher[RecordingSettings]):
    """Accepts (or fails, raises, hangs on) every post, after `delay`, and records it."""

    platform_name = "recording"
    settings_model = RecordingSettings

    async def publish(self, post: Post) -> PublishResult:
        RECEIVED[self.settings.label].append(post)
        RECEIVED_AT[self.settings.label].append(time.monotonic())
        OCCUPANCY.enter()
        try:
            await anyio.sleep(self.settings.delay)
        finally:
            OCCUPANCY.leave()
        behaviour = self.settings.behaviour
        if len(RECEIVED[self.settings.label]) <= self.settings.fail_first:
            behaviour = "fail"
        if behaviour == "hang":
            await anyio.sleep_forever()
        if behaviour == "raise":
            token = self.settings.token.get_secret_value() if self.settings.token else None
            raise RuntimeError(f"{self.settings.label} exploded (token {token})")
        if behaviour == "socket_timeout":
            raise TimeoutError("connect to the server timed out")
        if behaviour == "fail":
            return PublishResult.failure(f"{self.settings.label} refused the post")
        number = len(RECEIVED[self.settings.label])
        return PublishResult(ok=True, remote_id=f"{self.settings.label}-{number}")


class SecondRecordingPublisher(RecordingPublisher):
    """The same fake under another name, so a post can go to several fakes at once."""

    platform_name = "recording2"


class ThirdRecordingPublisher(RecordingPublisher):
    platform_name = "recording3"


class Barrier:
    """Counts publishers inside `publish` at once, across every barrier platform."""

    def __init__(self) -> None:
        self.arrived = 0
        self.all_arrived: anyio.Event | None = None

    async def meet(self, parties: int) -> None:
        if self.all_arrived is None:
            self.all_arrived = anyio.Event()
        self.arrived += 1
        if self.arrived >= parties:
            self.all_arrived.set()
        await self.all_arrived.wait()


BARRIER = Barrier()


class BarrierSettings(PlatformSettings):
    parties: int = 3


class BarrierPublisher(Publisher[BarrierSettings]):
    """Accepts a post only once `parties` publishers are inside `publish` at the same time.

    A sequential engine never gets there: the first one waits for ever (until its timeout).
    """

    platform_name = "barrier"
    settings_model = BarrierSettings

    async def publish(self, post: Post) -> PublishResult:
        await BARRIER.meet(self.settings.parties)
        return PublishResult(ok=True, remote_id=f"{self.platform_name}-ok")


class SecondBarrierPublisher(BarrierPublisher):
    platform_name = "barrier2"


class ThirdBarrierPublisher(BarrierPublisher):
    platform_name = "barrier3"
