"""The orchestrator tells a publisher its result is recorded only once the ledger has it."""

from __future__ import annotations

from pathlib import Path

from daemon.orchestrator import WorkflowOrchestrator
from daemon.post import Post
from daemon.publishers.base import Publisher, PublisherContext, PublishResult
from daemon.settings import PlatformSettings


class RememberingPublisher(Publisher[PlatformSettings]):
    """Publishes at once and remembers which results it was told are recorded."""

    platform_name = "remembering"

    def __init__(self) -> None:
        super().__init__(PlatformSettings(enabled=True), PublisherContext(Path()))
        self.told: list[PublishResult] = []

    async def publish(self, post: Post) -> PublishResult:
        return PublishResult(ok=True, remote_id=post.stem)

    async def recorded(self, post: Post, result: PublishResult) -> None:
        self.told.append(result)


class Ledger:
    """Hooks that record every answer but the one for `refused` (a full disk, say)."""

    def __init__(self, refused: str) -> None:
        self.refused = refused
        self.answers: list[str] = []

    async def before(self, platform: str) -> None:
        pass

    async def after(self, platform: str, result: PublishResult) -> None:
        if platform == self.refused:
            raise OSError("No space left on device")
        self.answers.append(platform)


def _post(folder: Path) -> Post:
    return Post("sunset", (folder / "sunset.jpg",), folder / "sunset.txt", "Red sky")


async def test_a_publisher_hears_its_result_is_recorded_only_after_the_ledger_has_it(
    tmp_path: Path,
) -> None:
    kept, lost = RememberingPublisher(), RememberingPublisher()
    ledger = Ledger(refused="lost")
    results = await WorkflowOrchestrator(5, ledger).publish(
        _post(tmp_path), {"kept": kept, "lost": lost}
    )
    assert ledger.answers == ["kept"]
    assert [result.remote_id for result in kept.told] == ["sunset"]
    assert lost.told == []  # it keeps what it needs to resume: the ledger says `pending`
    assert results["lost"].ok  # the platform did take it


async def test_without_a_ledger_a_result_counts_as_recorded_at_once(tmp_path: Path) -> None:
    publisher = RememberingPublisher()
    await WorkflowOrchestrator(5).publish(_post(tmp_path), {"remembering": publisher})
    assert len(publisher.told) == 1
