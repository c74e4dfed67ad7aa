"""One post's life, top to bottom: admit, choose platforms, fan out, conclude.

1. **Admit**: read the post and open its row in the ledger (or find it there).
2. **Choose platforms**: the enabled ones after its front matter, none if it is a duplicate.
3. **Fan out**: one task per platform in a task group, each in its own error boundary and
   timeout; every attempt ends `sent`, `refused` or `unknown`.
4. **Conclude**: archive it, leave it in the inbox for a retry later, or fail it.

Every step is written to the ledger before the next one, so that a crash anywhere leaves
the post in a state the next start can finish: platforms that have it are not sent it
again, and a post whose outcome was decided is filed where the ledger says.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

import anyio
import structlog

from daemon.events import NO_OBSERVERS, DeliveryFinished, Observers, PostConcluded
from daemon.filing import Decision, Filer, archive_day
from daemon.frontmatter import ContentWarningChoice
from daemon.inbox import Candidate
from daemon.ledger import (
    Admission,
    AsyncLedger,
    Delivery,
    DeliveryClaimedError,
    DeliveryState,
    Ledger,
    PostRow,
)
from daemon.platforms import ActivePlatforms, Lease
from daemon.post import Post, PostRejectedError, files_identity, read_post
from daemon.publisher import AnyPublisher, PublishResult
from daemon.record import Outcome
from daemon.retry import PostBackoff, post_retry_delay, resend_decision
from daemon.secrets import REDACTOR
from daemon.stalls import STORAGE_ERRORS, Stalls

log = structlog.get_logger("dropcast.post")

# After a failed filing (a full disk, say), when to try again: space does not free itself at once.
FILING_RETRY_SECONDS = 60.0
# Two copies of one post at once: the later one waits this long for the first to finish.
COPY_ON_ITS_WAY_SECONDS = 5.0


@dataclass(frozen=True)
class Later:
    """The post stays in the inbox and is due again at `at`, on the event loop's monotonic
    clock: a step of the wall clock moves no wait."""

    at: float
    for_a_platform: bool = False  # or as soon as a reload enables a platform


def later(seconds: float) -> Later:
    return Later(anyio.current_time() + seconds)


Done = Outcome | Later  # how a post's turn ends: filed, or left in the inbox until later


class PostWorkflow:
    """Takes complete posts from the inbox to the archive (or `failed/`), via the ledger,
    at most `max_in_flight` at a time."""

    def __init__(
        self,
        ledger: AsyncLedger,
        platforms: ActivePlatforms,
        max_in_flight: int,
        observers: Observers = NO_OBSERVERS,
    ) -> None:
        self.ledger = ledger
        self.platforms = platforms
        self.observers = observers
        self.stalls = Stalls(ledger.ledger.path)
        self._filer = Filer(ledger, self.stalls, observers)
        self._backoff = PostBackoff()
        self._in_flight = anyio.CapacityLimiter(max_in_flight)
        self._admitting = True

    @property
    def max_in_flight(self) -> int:
        return int(self._in_flight.total_tokens)

    @max_in_flight.setter
    def max_in_flight(self, posts: int) -> None:
        """A reload's new bound: posts beyond it wait for one in flight to end."""
        self._in_flight.total_tokens = posts

    def stop_admitting(self) -> None:
        """Dropcast is stopping: a post still waiting for its turn is left for the next start."""
        self._admitting = False

    async def publish(self, candidate: Candidate) -> Done | None:
        """Take `candidate` through its steps in its turn; None if its turn came too late."""
        async with self._in_flight:
            if not self._admitting:
                return None
            async with self.platforms.lease() as lease:
                with structlog.contextvars.bound_contextvars(post=candidate.stem):
                    return await self._handle(candidate, lease)

    async def _handle(self, candidate: Candidate, lease: Lease) -> Done:
        """Publish `candidate` to the platforms that do not have it yet, then file it."""
        admitted = await self._admit(candidate, lease)
        if isinstance(admitted, Done):
            return admitted
        post, admission = admitted
        publishers = await self._choose_platforms(post, admission, candidate, lease)
        if isinstance(publishers, Done):
            return publishers
        timeout = lease.config.core.publish_timeout
        _, deliveries = await deliver(
            self.ledger, post, admission.deliveries, publishers, timeout, observers=self.observers
        )
        outcome = Outcome.of(deliveries.get(name) for name in publishers)
        return await self._conclude(admission.row, outcome, deliveries, candidate, lease)

    async def finish_unfiled(self, skip: Collection[str] = ()) -> None:
        """File every post whose outcome was decided but whose files did not all move.

        `skip` names posts being handled right now, which finish their own filing.
        """
        await self._filer.finish_unfiled(skip)

    async def _admit(self, candidate: Candidate, lease: Lease) -> tuple[Post, Admission] | Done:
        """Read the post and find or open its row; a post that cannot go on now ends here."""
        try:
            post = await _read(candidate, lease.config.core.default_content_warning)
        except PostRejectedError as error:
            return await self._reject(candidate, lease, str(error))
        except OSError as error:  # unreadable now (permissions, vanished): perhaps not later
            log.error("post.unreadable", file=error.filename, error=error.strerror)
            return later(lease.config.core.rescan_seconds)
        admission = await self.ledger.run(Ledger.admit, post.identity, post.stem, list(post.files))
        row = admission.row
        if row.decided:  # a crash came between deciding and filing: finish the filing
            return _or_later(await self._filer.finish(row))
        wait = self._backoff.left(row.id, row.next_attempt_at, lease.config.core.retry_delays)
        if wait > 0:
            return later(wait)
        return replace(post, ledger_id=row.id), admission  # the id keys its destinations' progress

    async def _choose_platforms(
        self, post: Post, admission: Admission, candidate: Candidate, lease: Lease
    ) -> dict[str, AnyPublisher] | Done:
        """The platforms this post goes to; none if it was published before (a duplicate)."""
        row = admission.row
        if not lease.config.core.allow_duplicates:
            earlier = await _earlier_copy(row, admission.same_content)
            if isinstance(earlier, Later):
                return earlier
            if earlier is not None:
                return await self._duplicate(row, earlier, lease)
        try:
            publishers = select_publishers(post, lease)
        except PostRejectedError as error:
            return await self._reject(candidate, lease, str(error), row)
        if not publishers:
            log.warning("post.waiting", reason="no platform is enabled in the config")
            return replace(later(lease.config.core.rescan_seconds), for_a_platform=True)
        return publishers

    async def _conclude(
        self,
        row: PostRow,
        outcome: Outcome,
        deliveries: dict[str, Delivery],
        candidate: Candidate,
        lease: Lease,
    ) -> Done:
        """Archive the post, leave it in the inbox for a retry later, or fail it."""
        core = lease.config.core
        if outcome is Outcome.FAILED and row.attempts + 1 < core.max_attempts:
            return await self._retry_later(row, deliveries, core.retry_delays)
        destination = core.failed if outcome is Outcome.FAILED else archive_day(core.archive)
        decision = Decision(outcome, destination, attempted=True)
        return await self._file(row, decision, deliveries, seen=candidate)

    async def _retry_later(
        self, row: PostRow, deliveries: Mapping[str, Delivery], delays: tuple[float, ...]
    ) -> Later:
        """No platform accepted it: it waits in the inbox for its next attempt."""
        delay = post_retry_delay(delays, row.attempts + 1)
        next_at = time.time() + delay  # the wall clock, for the ledger: it outlives this process
        row = await self.ledger.run(Ledger.record_attempt, row.id, next_at)
        due = self._backoff.wait(row.id, delay)
        self.observers.notify(
            PostConcluded(
                row.stem, "retrying", deliveries, attempts=row.attempts, next_attempt_at=next_at
            )
        )
        log.warning(
            "post.failed",
            outcome=str(Outcome.FAILED),
            attempts=row.attempts,
            will_retry_at=datetime.fromtimestamp(next_at)
            .astimezone()
            .isoformat(timespec="seconds"),
        )
        return Later(due)

    async def _duplicate(self, row: PostRow, earlier: PostRow, lease: Lease) -> Done:
        log.warning("post.duplicate", earlier=earlier.stem, earlier_record=str(earlier.record_path))
        destination = archive_day(lease.config.core.archive)
        return await self._file(
            row, Decision(Outcome.DUPLICATE, destination, duplicate_of=earlier.id)
        )

    async def _reject(
        self, candidate: Candidate, lease: Lease, reason: str, row: PostRow | None = None
    ) -> Done:
        log.error("post.rejected", reason=reason)
        if row is None:
            files = [file.path for file in candidate.files]
            identity = await anyio.to_thread.run_sync(files_identity, files)
            row = await self.ledger.run(Ledger.open_post, identity, candidate.stem, files)
        decision = Decision(Outcome.FAILED, lease.config.core.failed, error=reason)
        return await self._file(row, decision)

    async def _file(
        self,
        row: PostRow,
        decision: Decision,
        deliveries: dict[str, Delivery] | None = None,
        seen: Candidate | None = None,
    ) -> Done:
        self._backoff.clear(row.id)  # no more backoff: it is being filed
        return _or_later(await self._filer.file(row, decision, deliveries, seen))


def _or_later(filed: Outcome | None) -> Done:
    """A filing that could not be carried out now (a full disk, say) is finished later."""
    return later(FILING_RETRY_SECONDS) if filed is None else filed


# Admit and choose platforms.


async def _read(candidate: Candidate, default_warning: ContentWarningChoice) -> Post:
    """The post, its content warning resolved: its front matter's, else the config's default."""
    problem = candidate.problem()
    if problem is not None:
        raise PostRejectedError(problem)
    images = [file.path for file in candidate.post_images]
    caption = candidate.captions[0].path
    return await anyio.to_thread.run_sync(
        read_post, candidate.stem, images, caption, default_warning
    )


async def _earlier_copy(
    row: PostRow, same_content: list[tuple[PostRow, bool]]
) -> PostRow | Later | None:
    """An earlier post with the same content: published (a duplicate), or still on its way."""
    for other, delivered in same_content:
        on_its_way = other.filed_at is None and await anyio.to_thread.run_sync(
            _any_exists, other.files
        )
        if on_its_way and (delivered or other.id < row.id):
            return later(COPY_ON_ITS_WAY_SECONDS)  # two copies at once: let the first one finish
        if delivered:
            return other
    return None


def _any_exists(paths: Sequence[Path]) -> bool:
    return any(os.path.lexists(path) for path in paths)


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


# Fan out: every platform that does not have the post yet, at once.


async def deliver(
    ledger: AsyncLedger,
    post: Post,
    known: Mapping[str, Delivery],
    publishers: Mapping[str, AnyPublisher],
    publish_timeout: float,
    *,
    by_owner: bool = False,
    observers: Observers = NO_OBSERVERS,
) -> tuple[list[str], dict[str, Delivery]]:
    """Send `post` to every one of `publishers` that should have it, given the deliveries
    `known` so far; return the platforms called and every delivery now.

    `by_owner`: the owner's `dropcast retry`, which may resend what is in doubt.
    """
    assert post.ledger_id is not None
    hooks = _LedgerHooks(ledger, post, observers)
    to_send = {}
    for name, publisher in publishers.items():
        if await _should_send(post, known.get(name), publisher, hooks, by_owner=by_owner):
            to_send[name] = publisher
    if to_send:
        await fan_out(post, to_send, publish_timeout, hooks)
    if any(name not in hooks.recorded for name in to_send):  # a ledger write failed
        return list(to_send), await ledger.run(Ledger.deliveries, post.ledger_id)
    return list(to_send), dict(sorted({**known, **hooks.recorded}.items()))


async def _should_send(
    post: Post,
    delivery: Delivery | None,
    publisher: AnyPublisher,
    hooks: _LedgerHooks,
    *,
    by_owner: bool,
) -> bool:
    """Whether to call `publisher` for `post`, given what the ledger says it did so far.

    An unknown answer is sent again only as `resend_decision` says: never blindly.
    """
    if delivery is None or delivery.state is DeliveryState.FAILED:
        return True
    if delivery.state is DeliveryState.SENT:
        return False  # never again
    # Unknown, or pending: one process handles a post at a time, so a `pending` here is
    # an attempt whose answer the ledger could not record (a full disk): unknown too.
    policy = publisher.resend_after_unknown
    decision = resend_decision(policy, by_owner=by_owner)
    if decision == "check":
        return await _not_found(post, publisher, hooks)
    if decision == "hold":
        log.warning(
            "platform.outcome_unknown", platform=publisher.platform_name, resend="dropcast retry"
        )
        return False
    if policy == "never":  # the owner's `dropcast retry` sends it all the same
        log.warning("retry.resending_unknown", platform=publisher.platform_name)
    return True


async def _not_found(post: Post, publisher: AnyPublisher, hooks: _LedgerHooks) -> bool:
    """Ask the platform whether it has `post`; True only if it surely has not."""
    try:
        with anyio.fail_after(60):
            found = await publisher.find_published(post)
    except Exception:  # cannot tell: it stays unknown and is not re-sent automatically
        log.exception("platform.check_failed", platform=publisher.platform_name)
        return False
    if found is not None:
        await hooks.after(publisher.platform_name, found)
    return found is None


class _LedgerHooks:
    """Records each platform's delivery in the ledger as the fan-out calls it, and tells
    the observers."""

    def __init__(self, ledger: AsyncLedger, post: Post, observers: Observers) -> None:
        assert post.ledger_id is not None
        self.ledger = ledger
        self.post_id = post.ledger_id
        self.stem = post.stem
        self.observers = observers
        # Each platform's delivery as recorded after it answered: with the deliveries known
        # before, the post's deliveries without reading them back.
        self.recorded: dict[str, Delivery] = {}

    async def before(self, platform: str, tracked: bool) -> None:
        await self.ledger.run(Ledger.mark_pending, self.post_id, platform, tracked)

    async def after(self, platform: str, result: PublishResult) -> None:
        delivery = await self.ledger.run(Ledger.mark_result, self.post_id, platform, result)
        self.recorded[platform] = delivery
        self.observers.notify(DeliveryFinished(self.stem, platform, delivery.state, result))


class DeliveryHooks(Protocol):
    """Told before each platform is called and when it answers (the ledger listens)."""

    async def before(self, platform: str, tracked: bool) -> None: ...

    async def after(self, platform: str, result: PublishResult) -> None: ...


class _NoHooks:
    """For a fan-out that nothing records (tests, tools)."""

    async def before(self, platform: str, tracked: bool) -> None:
        pass

    async def after(self, platform: str, result: PublishResult) -> None:
        pass


_NO_HOOKS = _NoHooks()


async def fan_out(
    post: Post,
    publishers: Mapping[str, AnyPublisher],
    publish_timeout: float,
    hooks: DeliveryHooks = _NO_HOOKS,
) -> dict[str, PublishResult]:
    """Run every platform's `publish` for `post` at once, each within `publish_timeout` seconds.

    A platform that fails, raises or times out becomes a not-ok `PublishResult`; it never
    cancels its siblings.
    """
    results: dict[str, PublishResult] = {}
    async with anyio.create_task_group() as group:
        for name, publisher in publishers.items():
            group.start_soon(_publish_one, name, publisher, post, publish_timeout, hooks, results)
    return {name: results[name] for name in publishers}


async def _publish_one(
    name: str,
    publisher: AnyPublisher,
    post: Post,
    publish_timeout: float,
    hooks: DeliveryHooks,
    results: dict[str, PublishResult],
) -> None:
    started = time.perf_counter()
    with structlog.contextvars.bound_contextvars(platform=name):
        refused = await _recorded_before(hooks, name, publisher)
        if refused is not None:
            results[name] = refused
            return
        result = await _guarded(publisher, post, publish_timeout)
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
        await _recorded_after(hooks, name, result)


async def _recorded_before(
    hooks: DeliveryHooks, name: str, publisher: AnyPublisher
) -> PublishResult | None:
    """Tell the hooks; if that fails the platform is not called (this is its result), or it
    might get the post twice."""
    try:
        await hooks.before(name, publisher.tracks_destinations)
    except DeliveryClaimedError as error:  # another process has it, or it was sent
        log.warning("platform.claimed_elsewhere", error=str(error))
        return PublishResult.failure(str(error))
    except Exception as error:
        log.exception("ledger.write_failed")
        return PublishResult.failure(f"not sent: the ledger could not record it ({error})")
    return None


async def _recorded_after(hooks: DeliveryHooks, name: str, result: PublishResult) -> None:
    """Tell the hooks the answer."""
    try:
        await hooks.after(name, result)
    except Exception:
        # The ledger keeps `pending`, which becomes `unknown`: never re-sent blindly.
        log.exception("ledger.write_failed")


async def _guarded(publisher: AnyPublisher, post: Post, publish_timeout: float) -> PublishResult:
    """The error boundary and the timeout around one platform's `publish`."""
    result = PublishResult.failure(f"timed out after {publish_timeout:g} s")
    with anyio.move_on_after(publish_timeout):
        try:
            result = await publisher.publish(post)
        except Exception as error:  # the error boundary: one platform never stops the others
            log.exception("platform.crashed")
            # A publisher's own TimeoutError (a socket's, say) keeps its own words.
            result = PublishResult.failure(f"unexpected error: {type(error).__name__}: {error}")
    return result if result.ok else await _in_doubt(publisher, post, result)


async def _in_doubt(publisher: AnyPublisher, post: Post, result: PublishResult) -> PublishResult:
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
