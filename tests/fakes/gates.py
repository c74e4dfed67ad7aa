"""Platforms for crash tests, where dropcast runs as a separate process.

They talk to the test through files in `folder`: each post received is a line in
`<platform>.received`; with `hold: true` a platform writes `<platform>.entered` and then
waits until `<platform>.release` exists, so the test can kill dropcast at an exact point;
with `delay: SECONDS` it takes that long to accept (the benchmarks' slow platform).
A subprocess finds them through the `dropcast.publishers` entry point that
`tests/test_crash.py` declares, like any third-party platform.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import anyio

from daemon.post import Post
from daemon.publisher import Publisher, PublishResult, ResendPolicy
from daemon.settings import PlatformSettings


class GateSettings(PlatformSettings):
    folder: Path
    hold: bool = False
    fail: bool = False
    delay: float = 0.0


class TrackingGateSettings(GateSettings):
    hold_sending: bool = False


class GatePublisher(Publisher[GateSettings]):
    """Sending again after an unknown outcome is safe for this one."""

    platform_name = "gate"
    settings_model = GateSettings
    resend_after_unknown: ClassVar[ResendPolicy] = "safe"

    async def publish(self, post: Post) -> PublishResult:
        folder = self.settings.folder
        with (folder / f"{self.platform_name}.received").open("a", encoding="utf-8") as received:
            received.write(f"{post.stem}\n")
        if self.settings.hold:
            (folder / f"{self.platform_name}.entered").touch()
            while not (folder / f"{self.platform_name}.release").exists():  # noqa: ASYNC110 - a file from another process
                await anyio.sleep(0.02)
        await anyio.sleep(self.settings.delay)
        if self.settings.fail:
            return PublishResult.failure(f"{self.platform_name} is down")
        return PublishResult(ok=True, remote_id=f"{self.platform_name}:{post.stem}")


class QuickGatePublisher(GatePublisher):
    platform_name = "gate_quick"


class TrackingGatePublisher(Publisher[TrackingGateSettings]):
    """A careful platform that marks its one destination right before its "first byte".

    With `hold: true` it waits before that mark, as a platform does while its library loads;
    with `hold_sending: true`, after it, as while its request is on its way.
    """

    platform_name = "gate_tracking"
    settings_model = TrackingGateSettings
    resend_after_unknown: ClassVar[ResendPolicy] = "never"
    tracks_destinations = True

    async def publish(self, post: Post) -> PublishResult:
        folder = self.settings.folder
        await self._hold_if(self.settings.hold, "entered")
        destinations = self.context.progress.for_post(post, self.platform_name)
        await destinations.sending(["feed"])
        with (folder / f"{self.platform_name}.received").open("a", encoding="utf-8") as received:
            received.write(f"{post.stem}\n")
        await self._hold_if(self.settings.hold_sending, "sending")
        await destinations.sent("feed", f"{self.platform_name}:{post.stem}")
        return PublishResult(ok=True, remote_id=f"{self.platform_name}:{post.stem}")

    async def _hold_if(self, hold: bool, signal: str) -> None:
        if not hold:
            return
        folder = self.settings.folder
        (folder / f"{self.platform_name}.{signal}").touch()
        while not (folder / f"{self.platform_name}.release").exists():  # noqa: ASYNC110 - a file from another process
            await anyio.sleep(0.02)


class CarefulGatePublisher(GatePublisher):
    """A platform where a second copy would be seen: never re-sent without `dropcast retry`."""

    platform_name = "gate_careful"
    resend_after_unknown = "never"
