"""What happens to one complete post: read it, publish it, then archive, retry or fail it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import anyio
import structlog

from daemon.archive import file_post
from daemon.inbox import Candidate
from daemon.orchestrator import WorkflowOrchestrator
from daemon.platforms import AnyPublisher, Lease
from daemon.post import Post, PostRejectedError, read_post
from daemon.publishers.base import PublishResult
from daemon.record import Outcome, ResultRecord

log = structlog.get_logger("dropcast.post")


@dataclass(frozen=True)
class Retry:
    """Nothing accepted the post: it stays in the inbox and is tried again."""

    attempts: int


class PostHandler:
    """Handles one post at a time per call; remembers failed attempts per post."""

    def __init__(self) -> None:
        self._attempts: dict[str, tuple[object, int]] = {}

    async def handle(self, candidate: Candidate, lease: Lease) -> Outcome | Retry | None:
        """Publish `candidate`; None means it waits (no platform is enabled)."""
        started_at = datetime.now(UTC)
        try:
            post = await self._read(candidate)
            publishers = select_publishers(post, lease)
        except PostRejectedError as error:
            await self._reject(candidate, lease, str(error), started_at)
            return Outcome.FAILED
        if not publishers:
            log.warning("post.waiting", reason="no platform is enabled in the config")
            return None
        orchestrator = WorkflowOrchestrator(lease.config.core.publish_timeout)
        results = await orchestrator.publish(post, publishers)
        return await self._conclude(candidate, post, lease, results, started_at)

    async def _read(self, candidate: Candidate) -> Post:
        problem = candidate.problem()
        if problem is not None:
            raise PostRejectedError(problem)
        image, caption = candidate.images[0].path, candidate.captions[0].path
        return await anyio.to_thread.run_sync(read_post, candidate.stem, image, caption)

    async def _conclude(
        self,
        candidate: Candidate,
        post: Post,
        lease: Lease,
        results: Mapping[str, PublishResult],
        started_at: datetime,
    ) -> Outcome | Retry:
        outcome = Outcome.of(results)
        attempts = self._count_attempt(candidate)
        durations = {name: result.duration_ms for name, result in results.items()}
        if outcome is Outcome.FAILED and attempts < lease.config.core.max_attempts:
            log.warning(
                "post.failed",
                outcome=str(outcome),
                attempts=attempts,
                will_retry=True,
                duration_ms=durations,
            )
            return Retry(attempts)
        record = ResultRecord(
            post.stem, outcome, started_at, datetime.now(UTC), results, attempts=attempts
        )
        destination = (
            _archive_day(lease.config.core.archive)
            if outcome is not Outcome.FAILED
            else lease.config.core.failed
        )
        moved = await _file(candidate, record, destination)
        self._attempts.pop(candidate.stem, None)
        event = "post.failed" if outcome is Outcome.FAILED else "post.published"
        log.info(
            event,
            outcome=str(outcome),
            attempts=attempts,
            moved_to=str(moved[-1].parent),
            duration_ms=durations,
        )
        return outcome

    def _count_attempt(self, candidate: Candidate) -> int:
        signature, count = self._attempts.get(candidate.stem, (None, 0))
        count = count + 1 if signature == candidate.signature else 1
        self._attempts[candidate.stem] = (candidate.signature, count)
        return count

    async def _reject(
        self, candidate: Candidate, lease: Lease, reason: str, started_at: datetime
    ) -> None:
        record = ResultRecord(
            candidate.stem, Outcome.FAILED, started_at, datetime.now(UTC), {}, error=reason
        )
        moved = await _file(candidate, record, lease.config.core.failed)
        log.error("post.rejected", reason=reason, moved_to=str(moved[-1].parent))


def select_publishers(post: Post, lease: Lease) -> dict[str, AnyPublisher]:
    """The enabled publishers this post goes to, after its front matter's `platforms`."""
    unknown = sorted(set(post.captions) - lease.config.platforms.keys())
    if unknown:
        raise PostRejectedError(
            f"{post.caption_file.name}: front matter has captions for platforms that are not "
            f"in the config: {', '.join(unknown)}"
        )
    if post.platforms is None:
        return dict(lease.publishers)
    not_enabled = sorted(set(post.platforms) - lease.publishers.keys())
    if not_enabled:
        raise PostRejectedError(
            f"{post.caption_file.name}: front matter asks for platforms that are not enabled "
            f"in the config: {', '.join(not_enabled)}"
        )
    return {name: lease.publishers[name] for name in post.platforms}


def _archive_day(archive: Path) -> Path:
    return archive / datetime.now().astimezone().strftime("%Y-%m-%d")


async def _file(candidate: Candidate, record: ResultRecord, destination: Path) -> list[Path]:
    files = [file.path for file in candidate.files]
    return await anyio.to_thread.run_sync(
        file_post, files, candidate.stem, record.to_json(), destination
    )
