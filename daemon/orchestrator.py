"""Publishing one post to several platforms at once, each in its own error boundary.

Every attempt ends `sent`, `refused` or `unknown`. An attempt that did not succeed while a
request to some destination was on its way (a timeout, a crash inside the publisher) is
`unknown`, and so are those destinations: the platform may have the post.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

import anyio
import structlog

from daemon.ledger import DeliveryClaimedError
from daemon.post import Post
from daemon.publisher import Publisher, PublishResult
from daemon.secrets import REDACTOR
from daemon.settings import PlatformSettings
from daemon.stalls import STORAGE_ERRORS

log = structlog.get_logger("dropcast.orchestrator")


class DeliveryHooks(Protocol):
    """Told before each platform is called and when it answers (the ledger listens)."""

    async def before(self, platform: str, tracked: bool) -> None: ...

    async def after(self, platform: str, result: PublishResult) -> None: ...


class WorkflowOrchestrator:
    """Runs every platform's `publish` for one post concurrently, with a timeout each.

    A platform that fails, raises or times out becomes a not-ok `PublishResult`; it never
    cancels its siblings.
    """

    def __init__(self, publish_timeout: float, hooks: DeliveryHooks | None = None) -> None:
        self.publish_timeout = publish_timeout
        self.hooks = hooks

    async def publish(
        self, post: Post, publishers: Mapping[str, Publisher[PlatformSettings]]
    ) -> dict[str, PublishResult]:
        results: dict[str, PublishResult] = {}
        async with anyio.create_task_group() as group:
            for name, publisher in publishers.items():
                group.start_soon(self._publish_one, name, publisher, post, results)
        return {name: results[name] for name in publishers}

    async def _publish_one(
        self,
        name: str,
        publisher: Publisher[PlatformSettings],
        post: Post,
        results: dict[str, PublishResult],
    ) -> None:
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(platform=name):
            if not await self._recorded_before(name, publisher, results):
                return
            result = await self._guarded(publisher, post)
            duration_ms = round((time.perf_counter() - started) * 1000)
            result = replace(result, duration_ms=duration_ms, error=_clean(result.error))
            results[name] = result
            log.log(
                logging.INFO if result.ok else logging.ERROR,
                "platform.attempted",
                ok=result.ok,
                remote_id=result.remote_id,
                url=result.url,
                error=result.error,
                attempts=result.attempts,
                duration_ms=duration_ms,
            )
            await self._recorded_after(name, result)

    async def _recorded_before(
        self, name: str, publisher: Publisher[PlatformSettings], results: dict[str, PublishResult]
    ) -> bool:
        """Tell the hooks; if that fails the platform is not called, or it might get it twice."""
        if self.hooks is None:
            return True
        try:
            await self.hooks.before(name, publisher.tracks_destinations)
        except DeliveryClaimedError as error:  # another process has it, or it was sent
            log.warning("platform.claimed_elsewhere", error=str(error))
            results[name] = PublishResult.failure(str(error))
            return False
        except Exception as error:
            log.exception("ledger.write_failed")
            results[name] = PublishResult.failure(
                f"not sent: the ledger could not record it ({error})"
            )
            return False
        return True

    async def _recorded_after(self, name: str, result: PublishResult) -> None:
        """Tell the hooks the answer."""
        if self.hooks is None:
            return
        try:
            await self.hooks.after(name, result)
        except Exception:
            # The ledger keeps `pending`, which becomes `unknown`: never re-sent blindly.
            log.exception("ledger.write_failed")

    async def _guarded(self, publisher: Publisher[PlatformSettings], post: Post) -> PublishResult:
        result = PublishResult.failure(f"timed out after {self.publish_timeout:g} s")
        with anyio.move_on_after(self.publish_timeout):
            try:
                result = await publisher.publish(post)
            except Exception as error:  # the error boundary: one platform never stops the others
                log.exception("platform.crashed")
                # A publisher's own TimeoutError (a socket's, say) keeps its own words.
                result = PublishResult.failure(f"unexpected error: {type(error).__name__}: {error}")
        return result if result.ok else await _in_doubt(publisher, post, result)


async def _in_doubt(
    publisher: Publisher[PlatformSettings], post: Post, result: PublishResult
) -> PublishResult:
    """`result`, made unknown if requests to some destinations got no answer.

    Those destinations are marked unknown too: their answer will never come now.
    """
    destinations = publisher.context.progress.for_post(post, publisher.platform_name)
    try:
        with anyio.CancelScope(shield=True):
            lost = await destinations.settle_pending(f"no answer: {_clean(result.error)}")
    except STORAGE_ERRORS:  # the ledger cannot tell what is on its way: assume the worst
        log.exception("ledger.write_failed")
        return replace(result, unknown=True)
    if not lost or result.unknown:
        return result
    return replace(
        result,
        unknown=True,
        error=f"{result.error}, while sending to {', '.join(lost)}: it may have arrived",
    )


def _clean(error: str | None) -> str | None:
    return None if error is None else REDACTOR.redact(error)
