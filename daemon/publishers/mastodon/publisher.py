"""`MastodonPublisher`: each post as a status, or a thread of them, on one Mastodon account.

The server's limits (`/api/v2/instance`) are read once per publisher session. A caption
longer than `max_characters` and an album larger than `max_media_attachments` continue in
replies; each part of the thread is a destination of its own ("part 1", "part 2", ...),
marked `sending` right before its status is posted, and a resumed thread replies to the last
part that arrived. Every status carries an `Idempotency-Key` made of the post's identity and
the part's number, so a call repeated after a lost answer (the call-level retry, or a resend
within the server's window) cannot post it twice; beyond that, `find_published` looks for the
part among the account's recent statuses. Mastodon.py is imported on first use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import anyio
import structlog

from daemon.post import Post
from daemon.progress import Destination, Destinations, DestinationState
from daemon.publisher import Publisher, PublisherContext, PublishResult
from daemon.publishers.mastodon.api import MastodonApi, MastodonCallError
from daemon.publishers.mastodon.instance import Limits, read_limits
from daemon.publishers.mastodon.media import PreparedImage, prepare_image
from daemon.publishers.mastodon.recent import find_part
from daemon.publishers.mastodon.settings import MastodonSettings
from daemon.publishers.mastodon.text import CaptionSplitError, split_caption
from daemon.publishers.mastodon.thread import Part, idempotency_key, plan_thread, split_notes
from daemon.retry import GaveUpError, RetryAfter
from daemon.text_split import split_text

__all__ = ["MastodonPublisher"]

log = structlog.get_logger("dropcast.mastodon")

FOUND_NOTE = "found on the account after an answer was lost; not posted again"
_RECENT_STATUSES = 40  # the most one request returns
_FIRST_POLL, _LONGEST_POLL = 0.25, 5.0  # seconds between looks at an upload in processing


@dataclass(frozen=True)
class _Plan:
    limits: Limits
    parts: list[Part]
    spoiler: str  # the content warning's words, "" for none
    notes: tuple[str, ...]


class _PartFailedError(Exception):
    """Raised inside `publish` when one part of the thread could not be posted."""

    def __init__(
        self, message: str, attempts: int, *, lost: bool = False, needs_owner: bool = False
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.lost = lost
        self.needs_owner = needs_owner  # the token refused (401): the owner must act


class MastodonPublisher(Publisher[MastodonSettings]):
    """Posts each post's caption and images to one Mastodon account."""

    platform_name = "mastodon"
    settings_model = MastodonSettings
    tracks_destinations = True  # each part of the thread
    resend_after_unknown = "check"  # idempotency keys, then the account's recent statuses

    def __init__(self, settings: MastodonSettings, context: PublisherContext) -> None:
        super().__init__(settings, context)
        self._api = MastodonApi(settings)
        self._limits: Limits | None = None
        self._account_id: str | None = None

    async def publish(self, post: Post) -> PublishResult:
        try:
            plan = await self._plan(post)
        except GaveUpError as failure:
            return PublishResult(
                False,
                error=f"could not read the server's limits: {failure.error}",
                attempts=failure.attempts,
                needs_owner=_token_refused(failure.error),
            )
        except CaptionSplitError as error:
            return PublishResult.failure(str(error))
        destinations = self.context.progress.for_post(post, self.platform_name)
        return await self._send_thread(post, plan, destinations)

    async def find_published(self, post: Post) -> PublishResult | None:
        """The post if every part is on the account (found parts are marked sent), else None.

        Raises `GaveUpError` when the server cannot be asked: the post then stays unknown.
        """
        plan = await self._plan(post)
        destinations = self.context.progress.for_post(post, self.platform_name)
        known = await destinations.known()
        statuses: list[dict[str, object]] | None = None
        last: Destination | None = None
        for part in plan.parts:
            done = known.get(part.name)
            if done is None or not (done.accepted or done.in_doubt):
                return None  # never sent, or refused: it is not there
            if not done.accepted:
                statuses = statuses if statuses is not None else await self._recent()
                reply_to = last.remote_id if last is not None else None
                found = find_part(statuses, part.text, reply_to, plan.spoiler, len(part.images))
                if found is None and len(statuses) >= _RECENT_STATUSES:
                    raise MastodonCallError(  # it may be further back: never resent blindly
                        f"{part.name} is not among the account's {_RECENT_STATUSES} most recent "
                        "statuses; look at the account, then `dropcast retry` if it is missing"
                    )
                if found is None:
                    log.info("mastodon.part_not_found", part=part.name)
                    return None
                done = _sent_destination(part, found)
                await destinations.sent(part.name, done.remote_id, done.url)
                log.info("mastodon.part_found", part=part.name, status=done.remote_id)
            last = done
        first = (await destinations.known())[plan.parts[0].name]
        return PublishResult(
            ok=True, remote_id=first.remote_id, url=first.url, notes=(*plan.notes, FOUND_NOTE)
        )

    async def check_connection(self) -> str:
        try:
            account, _ = await self.call(
                lambda: self._api.run(lambda client: client.account_verify_credentials()),
                retry=False,
            )
            limits = await self._session_limits()
        except GaveUpError as failure:
            raise MastodonCallError(str(failure.error)) from None
        return f"@{account['acct']} on {self.settings.api_base_url} ({limits.describe()})"

    async def close(self) -> None:
        await self._api.close()
        self._limits = None

    def retry_on(self, error: Exception) -> RetryAfter | None:
        """Retry what may pass (a rate limit, a server error, the network, media processing),
        unless the wait the server asked for would outlast the publish timeout."""
        if not isinstance(error, MastodonCallError) or error.retry is None:
            return None
        wait = error.retry.seconds
        if wait is not None and wait > _time_left():
            return None
        return error.retry

    # --- The plan -------------------------------------------------------------------------

    async def _session_limits(self) -> Limits:
        if self._limits is None:
            instance, _ = await self.call(self._api.instance)
            limits = read_limits(instance)
            log.info("mastodon.limits_read", limits=limits.describe())
            self._limits = limits
        return self._limits

    async def _plan(self, post: Post) -> _Plan:
        limits = await self._session_limits()
        warning = post.content_warning
        spoiler = warning.describe() if warning is not None else ""
        pieces = split_caption(post.caption_for(self.platform_name), limits, spoiler)
        per_status = limits.max_media_attachments
        parts = plan_thread(pieces, len(post.images), per_status)
        notes = split_notes(parts, len(pieces), limits.max_characters, per_status)
        return _Plan(limits, parts, spoiler, tuple(notes))

    # --- Sending --------------------------------------------------------------------------

    async def _send_thread(
        self, post: Post, plan: _Plan, destinations: Destinations
    ) -> PublishResult:
        known = await destinations.known()
        notes, attempts = list(plan.notes), 1
        sent: list[Destination] = []
        for part in plan.parts:
            media = await self._media(post, part, plan.limits, notes)
            done = known.get(part.name)
            if done is not None and done.accepted:
                sent.append(done)
                continue
            reply_to = sent[-1].remote_id if sent else None
            try:
                posted, tries = await self._send_part(
                    post, part, plan, media, reply_to, destinations
                )
            except _PartFailedError as failure:
                mark = destinations.unknown if failure.lost else destinations.refused
                await mark(part.name, str(failure))
                return _stopped(plan, part, sent, failure, max(attempts, failure.attempts))
            await destinations.sent(part.name, posted.remote_id, posted.url)
            sent.append(posted)
            attempts = max(attempts, tries)
        return PublishResult(
            ok=True,
            remote_id=sent[0].remote_id,
            url=sent[0].url,
            attempts=attempts,
            notes=tuple(notes),
        )

    async def _media(
        self, post: Post, part: Part, limits: Limits, notes: list[str]
    ) -> list[tuple[PreparedImage, str]]:
        """Each of the part's images as uploaded, with its alt text; notes what was changed."""
        media = []
        for index in part.images:
            image = await anyio.to_thread.run_sync(prepare_image, post.images[index], limits)
            alt = post.alt_for(index)
            if len(alt) > limits.description_limit:
                alt = split_text(alt, limits.description_limit, measure=len)[0]
                notes.append(
                    f"alt text of {image.name} cut to {len(alt):,} characters (the server "
                    f"takes {limits.description_limit:,})"
                )
            notes.extend([image.note] if image.note else [])
            media.append((image, alt))
        return media

    async def _send_part(
        self,
        post: Post,
        part: Part,
        plan: _Plan,
        media: list[tuple[PreparedImage, str]],
        reply_to: str | None,
        destinations: Destinations,
    ) -> tuple[Destination, int]:
        """Upload the part's images, then post its status; raises `_PartFailedError`."""
        try:
            media_ids = [await self._upload(image, alt) for image, alt in media]
        except (GaveUpError, MastodonCallError) as error:
            raise _failure("an image upload failed", error, may_be_posted=False) from None
        settings = self.settings

        def post_status(client: object) -> dict[str, object]:
            return client.status_post(  # type: ignore[attr-defined, no-any-return]
                part.text,
                in_reply_to_id=reply_to,
                media_ids=media_ids or None,
                sensitive=post.content_warning is not None,
                spoiler_text=plan.spoiler or None,
                visibility=settings.visibility,
                language=settings.language,
                idempotency_key=idempotency_key(post, part),
            )

        await destinations.sending([part.name])  # right before the status's first byte
        try:
            status, attempts = await self.call(lambda: self._api.run(post_status))
        except GaveUpError as error:
            raise _failure("the status was not posted", error, may_be_posted=True) from None
        return _sent_destination(part, status), attempts

    async def _upload(self, image: PreparedImage, alt: str) -> str:
        """Upload one image; its media id once the server has processed it."""

        def upload(client: object) -> dict[str, object]:
            return client.media_post(  # type: ignore[attr-defined, no-any-return]
                image.data,
                mime_type=image.mime_type,
                description=alt or None,
                file_name=image.name,
            )

        attachment, _ = await self.call(lambda: self._api.run(upload))
        media_id = str(attachment["id"])
        if attachment.get("url") is None:  # 202: still processing
            await self._await_processing(media_id, image.name)
        return media_id

    async def _await_processing(self, media_id: str, name: str) -> None:
        """Look at the upload with a growing pause until it is processed, within the bound."""
        deadline = anyio.current_time() + self.settings.media_processing_timeout
        pause = _FIRST_POLL
        while anyio.current_time() + pause <= deadline:
            await anyio.sleep(pause)
            media, _ = await self.call(lambda: self._api.run(lambda client: client.media(media_id)))
            if media.get("url") is not None:
                return
            pause = min(pause * 2, _LONGEST_POLL)
        raise MastodonCallError(
            f"{name} was still processing on the server after "
            f"{self.settings.media_processing_timeout:g} s"
        )

    async def _recent(self) -> list[dict[str, object]]:
        """The account's most recent statuses, newest first."""

        def look(client: object) -> list[dict[str, object]]:
            me = client.account_verify_credentials()  # type: ignore[attr-defined]
            return list(
                client.account_statuses(me["id"], limit=_RECENT_STATUSES)  # type: ignore[attr-defined]
            )

        statuses, _ = await self.call(lambda: self._api.run(look))
        return statuses


def _sent_destination(part: Part, status: object) -> Destination:
    assert isinstance(status, dict)  # Mastodon.py's entities are dicts
    url = status.get("url")
    return Destination(
        part.name, DestinationState.SENT, str(status["id"]), str(url) if url else None
    )


def _failure(what: str, error: Exception, *, may_be_posted: bool) -> _PartFailedError:
    """The part's failure; lost only for a status whose answer never came (an upload whose
    answer was lost is only an unused file on the server)."""
    cause = error.error if isinstance(error, GaveUpError) else error
    attempts = error.attempts if isinstance(error, GaveUpError) else 1
    lost = may_be_posted and isinstance(cause, MastodonCallError) and cause.lost
    owner = _token_refused(cause)
    return _PartFailedError(f"{what}: {cause}", attempts, lost=lost, needs_owner=owner)


def _token_refused(error: BaseException) -> bool:
    return isinstance(error, MastodonCallError) and error.status == 401


def _stopped(
    plan: _Plan, part: Part, sent: list[Destination], failure: _PartFailedError, attempts: int
) -> PublishResult:
    total = len(plan.parts)
    error = f"{part.name} of {total}: {failure}"
    if sent:
        error += f" ({len(sent)} of {total} parts arrived; a retry sends only the rest)"
    return PublishResult(
        ok=False,
        remote_id=sent[0].remote_id if sent else None,
        url=sent[0].url if sent else None,
        error=error,
        attempts=attempts,
        unknown=failure.lost,
        needs_owner=failure.needs_owner,
    )


def _time_left() -> float:
    """Seconds until the publish timeout (infinite outside one)."""
    deadline = anyio.current_effective_deadline()
    return math.inf if math.isinf(deadline) else deadline - anyio.current_time()
