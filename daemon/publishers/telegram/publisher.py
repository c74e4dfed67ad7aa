"""`TelegramPublisher`: each post to every chat in `chat_ids`, each chat's parts tracked.

Each chat in `chat_ids` gets the image with as much of the caption as fits (1024
characters); the rest follows as text messages that reply to it (4096 characters each). A
post counts as published only when every chat got all of it. aiogram is imported on first
use: a disabled platform costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

import anyio
import structlog

from daemon.post import Post
from daemon.progress import Destination, Destinations, DestinationState
from daemon.publisher import Publisher, PublisherContext, PublishResult
from daemon.publishers.telegram.api import (
    BotClient,
    TelegramCallError,
    describe_failure,
)
from daemon.publishers.telegram.legacy import LegacyDeliveries, post_key
from daemon.publishers.telegram.media import Media, prepare_media
from daemon.publishers.telegram.methods import album_method, media_method, text_method
from daemon.publishers.telegram.settings import TelegramSettings
from daemon.publishers.telegram.text import CAPTION_LIMIT, ParseMode, split_caption
from daemon.retry import GaveUpError, RetryAfter

if TYPE_CHECKING:
    from aiogram.methods.base import TelegramMethod
    from aiogram.types import Message

T = TypeVar("T")

log = structlog.get_logger("dropcast.telegram")

_ALBUM_LIMIT = 10


@dataclass(frozen=True)
class _Plan:
    """What every chat gets: the image(s), then the caption's pieces."""

    media: tuple[Media, ...]
    pieces: tuple[str, ...]  # the first goes with the image; each other one is a message
    known: dict[str, Destination]  # each chat's parts from earlier attempts, by part name

    @property
    def steps(self) -> int:
        return max(1, len(self.pieces))

    @property
    def notes(self) -> tuple[str, ...]:
        """For the result record: images not sent as they are, and a caption that was split."""
        notes = [item.note for item in self.media if item.note is not None]
        if len(self.pieces) > 1:
            replies = len(self.pieces) - 1
            notes.append(
                f"caption split into {len(self.pieces)} messages (Telegram takes "
                f"{CAPTION_LIMIT:,} characters with an image): the image's caption and "
                f"{replies} {'reply' if replies == 1 else 'replies'}"
            )
        return tuple(notes)


def part_name(chat: str, step: int) -> str:
    """A chat's part as a destination: `@chan#0` is the image, `@chan#1` the first reply."""
    return f"{chat}#{step}"


@dataclass(frozen=True)
class _ChatResult:
    chat: str
    head: Destination | None  # the image's message, if it arrived
    attempts: int
    error: str | None = None
    lost: bool = False  # a part's answer never came: it may have arrived


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
        if len(post.images) > _ALBUM_LIMIT:
            return PublishResult.failure(
                f"a Telegram album holds at most {_ALBUM_LIMIT} images; this post has "
                f"{len(post.images)}"
            )
        await self._client.load()
        destinations = self.context.progress.for_post(post, self.platform_name)
        plan = await self._plan(post, destinations)
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

    async def _plan(self, post: Post, destinations: Destinations) -> _Plan:
        caption = post.caption_for(self.platform_name)
        mode: ParseMode | None = self.settings.parse_mode
        oversize = self.settings.oversize
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
        if len(media) > 1 and not all(item.as_photo for item in media):
            # An album is all photos or all documents: one document makes them all documents.
            media = [replace(item, as_photo=False, scaled=None) for item in media]
        for item in media:
            _log_choice(item)
        return _Plan(tuple(media), tuple(split_caption(caption, mode)), known)

    async def _deliver(
        self,
        chat: int | str,
        plan: _Plan,
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
                head = (await destinations.known()).get(part_name(label, 0))
                results[label] = _ChatResult(label, _arrived(head), 1, message)

    async def _deliver_steps(
        self, chat: int | str, plan: _Plan, destinations: Destinations
    ) -> _ChatResult:
        label = str(chat)
        head = _arrived(plan.known.get(part_name(label, 0)))
        if head is not None:
            log.info("chat.resumed", steps=plan.steps)
        attempts, step = 0, 0
        try:
            for step in range(plan.steps):
                name = part_name(label, step)
                if _arrived(plan.known.get(name)) is not None:
                    continue
                await destinations.sending([name])
                sent, tries = await self._send_step(chat, plan, step, head)
                await destinations.sent(name, sent.remote_id, sent.url)
                head, attempts = head or sent, max(attempts, tries)
        except GaveUpError as failure:
            lost = isinstance(failure.error, TelegramCallError) and failure.error.lost
            error = _partly(describe_failure(failure, self.retry_policy), head, step, plan)
            mark = destinations.unknown if lost else destinations.refused
            await mark(part_name(label, step), error)
            return _ChatResult(label, head, max(attempts, failure.attempts), error, lost)
        return _ChatResult(label, head, attempts)

    async def _send_step(
        self, chat: int | str, plan: _Plan, step: int, head: Destination | None
    ) -> tuple[Destination, int]:
        """Send part `step` (0: the image); the sent part, and the attempts it took."""
        name = part_name(str(chat), step)
        if step == 0:
            message, attempts = await self._send_media(chat, plan)
            return _sent(name, message.message_id, _public_url(chat, message)), attempts
        assert head is not None  # the image went first: a step after it fails stops the chat
        reply_to = int(head.remote_id or 0)
        message, attempts = await self._send_text(chat, plan.pieces[step], reply_to)
        return _sent(name, message.message_id, None), attempts

    async def _send_media(self, chat: int | str, plan: _Plan) -> tuple[Message, int]:
        caption = plan.pieces[0] if plan.pieces else None
        settings = self.settings
        silent = settings.disable_notification
        if len(plan.media) == 1:
            method = media_method(chat, plan.media[0], caption, settings.parse_mode, silent)
            return await self._send(method, str(chat))
        album = album_method(chat, plan.media, caption, settings.parse_mode, silent)
        messages, attempts = await self._send(album, str(chat))
        return messages[0], attempts

    async def _send_text(self, chat: int | str, piece: str, reply_to: int) -> tuple[Message, int]:
        """Send one more piece of the caption, replying to the image."""
        method = text_method(chat, piece, self.settings.parse_mode, reply_to)
        return await self._send(method, str(chat))


def _time_left() -> float:
    """Seconds until the publish timeout (infinite outside one)."""
    deadline = anyio.current_effective_deadline()
    return math.inf if math.isinf(deadline) else deadline - anyio.current_time()


def _sent(name: str, message_id: int, url: str | None) -> Destination:
    return Destination(name, DestinationState.SENT, str(message_id), url)


def _arrived(destination: Destination | None) -> Destination | None:
    return destination if destination is not None and destination.accepted else None


def _public_url(chat: int | str, message: Message) -> str | None:
    """The t.me link of a message in a public channel or group, else None."""
    if message.chat.type not in ("channel", "supergroup"):
        return None
    configured = chat[1:] if isinstance(chat, str) and chat.startswith("@") else None
    username = message.chat.username or configured
    return f"https://t.me/{username}/{message.message_id}" if username else None


def _partly(error: str, head: Destination | None, step: int, plan: _Plan) -> str:
    if head is None:
        return error
    return (
        f"{error} (the image and {step} of {plan.steps} caption parts arrived; "
        "a retry sends only the rest)"
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
    remote_id = " ".join(f"{chat}:{head.remote_id}" for chat, head in arrived)
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
    )
