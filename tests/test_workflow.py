"""The fan-out ends every attempt sent, refused or unknown, one platform never stopping another."""

from __future__ import annotations

from pathlib import Path

import anyio

from daemon.post import Post
from daemon.progress import DestinationState
from daemon.publisher import Publisher, PublisherContext, PublishResult
from daemon.settings import PlatformSettings
from daemon.workflow import fan_out


class SlowPublisher(Publisher[PlatformSettings]):
    """Marks `sending` for the destinations in `sends` (none: no request is made), then hangs."""

    platform_name = "slow"

    def __init__(self, *sends: str) -> None:
        super().__init__(PlatformSettings(enabled=True), PublisherContext(Path()))
        self.sends = sends

    async def publish(self, post: Post) -> PublishResult:
        destinations = self.context.progress.for_post(post, self.platform_name)
        await destinations.sent("first")
        if self.sends:
            await destinations.sending(self.sends)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


class CrashingPublisher(SlowPublisher):
    """Marks `sending` for `one`, then raises as a bug would."""

    async def publish(self, post: Post) -> PublishResult:
        await self.context.progress.for_post(post, self.platform_name).sending(["one"])
        raise RuntimeError("a bug")


class AnsweringPublisher(Publisher[PlatformSettings]):
    platform_name = "answering"

    def __init__(self) -> None:
        super().__init__(PlatformSettings(enabled=True), PublisherContext(Path()))

    async def publish(self, post: Post) -> PublishResult:
        return PublishResult(ok=True, remote_id=post.stem)


class Ledger:
    """Hooks that record every answer but the one for `refused` (a full disk, say)."""

    def __init__(self, refused: str) -> None:
        self.refused = refused
        self.answers: list[str] = []

    async def before(self, platform: str, tracked: bool) -> None:
        pass

    async def after(self, platform: str, result: PublishResult) -> None:
        if platform == self.refused:
            raise OSError("No space left on device")
        self.answers.append(platform)


def _post(folder: Path) -> Post:
    return Post("sunset", (folder / "sunset.jpg",), folder / "sunset.txt", "Red sky")


class TestTimeouts:
    async def test_a_timeout_while_a_request_is_on_its_way_is_unknown(self, tmp_path: Path) -> None:
        """A publish_timeout with a destination `sending` ends unknown, and so does it."""
        publisher, post = SlowPublisher("@chan#0"), _post(tmp_path)
        results = await fan_out(post, {"slow": publisher}, 0.05)
        assert results["slow"].outcome == "unknown"
        assert "@chan#0" in (results["slow"].error or "")
        known = await publisher.context.progress.for_post(post, "slow").known()
        assert known["@chan#0"].state is DestinationState.UNKNOWN
        assert known["first"].state is DestinationState.SENT  # an answer that came stays

    async def test_a_timeout_with_nothing_on_its_way_is_refused(self, tmp_path: Path) -> None:
        """A publish_timeout before any request was made is safe to try again."""
        results = await fan_out(_post(tmp_path), {"s": SlowPublisher()}, 0.05)
        assert results["s"].outcome == "refused"
        assert results["s"].error == "timed out after 0.05 s"

    async def test_a_crash_while_a_request_is_on_its_way_is_unknown(self, tmp_path: Path) -> None:
        """A publisher that raises with a destination `sending` may have reached it."""
        results = await fan_out(_post(tmp_path), {"crash": CrashingPublisher()}, 5)
        assert results["crash"].outcome == "unknown"


class TestBoundaries:
    async def test_a_slow_platform_never_holds_up_or_cancels_another(self, tmp_path: Path) -> None:
        """The answering platform is sent while its sibling times out."""
        results = await fan_out(
            _post(tmp_path), {"slow": SlowPublisher("x"), "answering": AnsweringPublisher()}, 0.05
        )
        assert results["answering"].ok
        assert not results["slow"].ok

    async def test_an_answer_the_ledger_could_not_record_is_still_returned(
        self, tmp_path: Path
    ) -> None:
        """The ledger keeps `pending` (unknown after a restart); the platform did take it."""
        ledger = Ledger(refused="lost")
        results = await fan_out(
            _post(tmp_path), {"kept": AnsweringPublisher(), "lost": AnsweringPublisher()}, 5, ledger
        )
        assert ledger.answers == ["kept"]
        assert results["lost"].ok
