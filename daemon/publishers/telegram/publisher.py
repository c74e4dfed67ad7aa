"""`TelegramPublisher`: each post to every chat in `chat_ids`, each chat's parts tracked.

Each chat in `chat_ids` gets the image, or the album (more than 10 images: several albums,
see `album`), with as much of the caption as fits (1024 characters); the rest follows as
text messages that reply to it (4096 characters each). Each album and each reply is a
destination of its own (`steps`). A post counts as published only when every chat got all
of it. aiogram is imported on first use: a disabled platform costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import structlog

from daemon.post import Post
from daemon.progress import Destination, Destinations, DestinationState
from daemon.publisher import Publisher, PublisherContext, PublishResult
from daemon.publishers.telegram.album import as_groups
from daemon.publishers.telegram.api import (
    BotClient,
    TelegramCallError,
    describe_failure,
)
from daemon.publishers.telegram.legacy import LegacyDeliveries, post_key
from daemon.publishers.telegram.media import Media, prepare_media
from daemon.publishers.telegram.methods import Delivery, album_method, media_method, text_method
from daemon.publishers.telegram.plan import Plan, oversize_for, uncovered
from daemon.publishers.telegram.settings import TelegramSettings
from daemon.publishers.telegram.steps import HEAD, Step
from daemon.publishers.telegram.text import ParseMode, split_caption
from daemon.retry import GaveUpError, RetryAfter

if TYPE_CHECKING:
    from aiogram.methods.base import TelegramMethod
    from aiogram.types import Message

T = TypeVar("T")

log = structlog.get_logger("dropcast.telegram")


@dataclass(frozen=True)
class _ChatResult:
    chat: str
    head: Destination | None  # the first image's message, if it arrived
    attempts: int
    error: str | None = None
    lost: bool = False  # a part's answer never came: it may have arrived
    needs_owner: bool = False  # refused until the owner acts (the token)


class TelegramPublisher(Publisher[TelegramSettings]):
    """Sends each post to every chat in `chat_ids` with one reused aiogram `Bot`.

    Each chat's image and each caption reply is a destination of its own in the ledger,
    marked before it is sent and when Telegram answers, so a later attempt sends a chat only
    the parts it lacks.
    """

    platform_name = "telegram"
    settings_model = TelegramSettings
    tracks_destinations = True  # each chat's image and caption replies

    def __init__(self, settings: TelegramSettings, context: PublisherContext) -> None:
        super().__init__(settings, context)
        self._client = BotClient(settings.token, settings.api_server, settings.request_timeout)
        self._legacy = LegacyDeliveries(context.state_dir / "telegram" / "deliveries.json")

    async def publish(self, post: Post) -> PublishResult:
        await self._client.load()
        destinations = self.context.progress.for_post(post, self.platform_name)
        plan = await self._plan(post, destinations)
        problem = uncovered(post, plan.media)
        if problem is not None:
            return PublishResult.failure(problem)
        results: dict[str, _ChatResult] = {}
        async with anyio.create_task_group() as group:
            for chat in self.settings.chat_ids:
                group.start_soon(self._deliver, chat, plan, destinations, results)
        ordered = [results[str(chat)] for chat in self.settings.chat_ids]
        return replace(_summarize(ordered), notes=plan.notes)

    async def check_connection(self) -> str:
        await self._client.load()
        from aiogram.methods import GetMe

        try:
            me, _ = await self._send(GetMe(), retry=False)
        except GaveUpError as failure:
            raise TelegramCallError(str(failure.error)) from None
        return f"bot @{me.username}"

    async def close(self) -> None:
        await self._client.close()

    def retry_on(self, error: Exception) -> RetryAfter | None:
        """Retry what may pass (flood control, a server error, a connection never made),
        unless the wait Telegram asked for would outlast the publish timeout."""
        if not isinstance(error, TelegramCallError) or error.retry is None:
            return None
        wait = error.retry.seconds
        if wait is not None and wait > _time_left():
            return None
        return error.retry

    async def _send(
        self, method: TelegramMethod[T], chat: str | None = None, *, retry: bool = True
    ) -> tuple[T, int]:
        """One Bot API call under the retry declared above; its result and the attempts taken.

        Raises `GaveUpError`, whose `error` is a `TelegramCallError` for Telegram's refusals.
        """
        return await self.call(lambda: self._client.send(method, chat), retry=retry)

    async def _plan(self, post: Post, destinations: Destinations) -> Plan:
        caption = post.caption_for(self.platform_name)
        mode: ParseMode | None = self.settings.parse_mode
        oversize = oversize_for(post, self.settings.oversize)
        legacy = self._legacy

        def look() -> tuple[list[Media], str, list[Destination]]:  # one thread trip
            media = [prepare_media(image, oversize) for image in post.images]
            key = post_key([item.sha256() for item in media], caption, mode)
            return media, key, legacy.peek(key)

        media, key, migrated = await anyio.to_thread.run_sync(look)
        if migrated:  # progress an earlier dropcast kept in deliveries.json: into the ledger
            await destinations.mark(migrated)  # (a mark never undoes a `sent`)
            await anyio.to_thread.run_sync(legacy.forget, key)
        known = await destinations.known()
        plan = Plan(
            as_groups(media),
            tuple(split_caption(caption, mode)),
            known,
            spoiler=post.content_warning is not None,
            has_alt=any(post.alt),
        )
        for item in plan.media:
            _log_choice(item)
        return plan

    async def _deliver(
        self,
        chat: int | str,
        plan: Plan,
        destinations: Destinations,
        results: dict[str, _ChatResult],
    ) -> None:
        """Send `chat` what it lacks; each chat is its own error boundary, like each platform."""
        label = str(chat)
        with structlog.contextvars.bound_contextvars(chat=label):
            try:
                results[label] = await self._deliver_steps(chat, plan, destinations)
            except Exception as error:  # a bug: report it, and let the other chats finish
                log.exception("chat.crashed")
                message = self._client.scrub(f"unexpected error: {type(error).__name__}: {error}")
                head = (await destinations.known()).get(HEAD.name(label))
                results[label] = _ChatResult(label, _arrived(head), 1, message)

    async def _deliver_steps(
        self, chat: int | str, plan: Plan, destinations: Destinations
    ) -> _ChatResult:
        """Each step `chat` lacks, in order, marked `sending` right before it goes."""
        label = str(chat)
        head = _arrived(plan.known.get(HEAD.name(label)))
        if head is not None:
            log.info("chat.resumed", steps=len(plan.steps))
        attempts, done, step = 0, 0, HEAD
        try:
            for step in plan.steps:
                name = step.name(label)
                if _arrived(plan.known.get(name)) is None:
                    method = self._step_method(chat, plan, step, head)  # all work before the mark
                    await destinations.sending([name])
                    sent, tries = await self._send_step(chat, step, method)
                    await destinations.sent(name, sent.remote_id, sent.url)
                    head, attempts = sent if step.is_head else head, max(attempts, tries)
                done += 1
        except GaveUpError as failure:
            lost = isinstance(failure.error, TelegramCallError) and failure.error.lost
            owner = isinstance(failure.error, TelegramCallError) and failure.error.needs_owner
            error = _partly(describe_failure(failure, self.retry_policy), head, done, plan)
            mark = destinations.unknown if lost else destinations.refused
            await mark(step.name(label), error)
            return _ChatResult(label, head, max(attempts, failure.attempts), error, lost, owner)
        return _ChatResult(label, head, attempts)

    def _step_method(
        self, chat: int | str, plan: Plan, step: Step, head: Destination | None
    ) -> TelegramMethod[Any]:
        """The request for `step`: an album (or the one image), or a caption reply."""
        if step.group is not None:
            return self._group_method(chat, plan, step.group)
        assert head is not None  # the images went first: a step after them fails stops the chat
        piece = plan.pieces[step.piece]
        return text_method(chat, piece, self.settings.parse_mode, first_id(head))

    async def _send_step(
        self, chat: int | str, step: Step, method: TelegramMethod[Any]
    ) -> tuple[Destination, int]:
        """Send `step`'s request; the sent part, and the attempts it took."""
        name = step.name(str(chat))
        answer, attempts = await self._send(method, str(chat))
        if step.group is None:
            return _sent(name, str(answer.message_id), None), attempts
        messages = answer if isinstance(answer, list) else [answer]
        ids = ",".join(str(message.message_id) for message in messages)
        return _sent(name, ids, _public_url(chat, messages[0])), attempts

    def _group_method(self, chat: int | str, plan: Plan, index: int) -> TelegramMethod[Any]:
        """Album `index` (or the one image), the caption with the first."""
        group, first = plan.groups[index], index == 0
        caption = plan.pieces[0] if first and plan.pieces else None
        # One post makes one notification: the first album's.
        silent = self.settings.disable_notification or not first
        how = Delivery(self.settings.parse_mode, silent, plan.spoiler)
        if len(group) == 1:
            return media_method(chat, group[0], caption, how)
        return album_method(chat, group, caption, how)


def _time_left() -> float:
    """Seconds until the publish timeout (infinite outside one)."""
    deadline = anyio.current_effective_deadline()
    return math.inf if math.isinf(deadline) else deadline - anyio.current_time()


def _sent(name: str, message_ids: str, url: str | None) -> Destination:
    """A sent part; `message_ids` its message's id, or an album's ids joined by commas."""
    return Destination(name, DestinationState.SENT, message_ids, url)


def first_id(destination: Destination) -> int:
    """The first message of a sent part: the one replies answer (0 if none was kept)."""
    return int((destination.remote_id or "0").partition(",")[0])


def _arrived(destination: Destination | None) -> Destination | None:
    return destination if destination is not None and destination.accepted else None


def _public_url(chat: int | str, message: Message) -> str | None:
    """The t.me link of a message in a public channel or group, else None."""
    if message.chat.type not in ("channel", "supergroup"):
        return None
    configured = chat[1:] if isinstance(chat, str) and chat.startswith("@") else None
    username = message.chat.username or configured
    return f"https://t.me/{username}/{message.message_id}" if username else None


def _partly(error: str, head: Destination | None, done: int, plan: Plan) -> str:
    """The error, and how much of the post the chat has, if any of it."""
    if head is None:
        return error
    if len(plan.groups) == 1:
        return (
            f"{error} (the image and {done} of {len(plan.steps)} caption parts arrived; "
            "a retry sends only the rest)"
        )
    return (
        f"{error} (the first {done} of the post's {len(plan.steps)} parts arrived, albums "
        "first, then caption replies; a retry sends only the rest)"
    )


def _log_choice(media: Media) -> None:
    if media.reason is None:
        return
    event = "image.scaled" if media.scaled is not None else "image.sent_as_document"
    log.info(event, image=media.path.name, reason=media.reason)


def _summarize(results: list[_ChatResult]) -> PublishResult:
    """One result for all chats: ok only if every chat got the whole post; unknown if a
    part's answer was lost (it may have arrived)."""
    arrived = [(result.chat, result.head) for result in results if result.head]
    remote_id = " ".join(f"{chat}:{first_id(head)}" for chat, head in arrived)
    url = " ".join(head.url for _, head in arrived if head.url)
    attempts = max(1, *(result.attempts for result in results))
    failed = [result for result in results if result.error is not None]
    if not failed:
        return PublishResult(ok=True, remote_id=remote_id, url=url or None, attempts=attempts)
    errors = "; ".join(f"{result.chat}: {result.error}" for result in failed)
    if len(results) > 1:
        errors = f"{len(failed)} of {len(results)} chats did not get the post: {errors}"
    return PublishResult(
        ok=False,
        remote_id=remote_id or None,
        url=url or None,
        error=errors,
        attempts=attempts,
        unknown=any(result.lost for result in failed),
        needs_owner=any(result.needs_owner for result in failed),
    )
