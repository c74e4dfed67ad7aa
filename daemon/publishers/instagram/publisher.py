"""The Instagram publisher: a photo or carousel post on an Instagram account, through instagrapi.

A one-image post is a photo post (destination "feed"); an album is one carousel post, or
several for more than 10 images (destinations "carousel 1", ...; see `album`, `albums`).
Alt text goes as each photo's `custom_accessibility_caption`. Instagram has no content
warning: a post with one goes without, and its result's notes say so.

instagrapi is blocking and Instagram punishes clumsy clients, so the publisher behaves like
a careful person's phone: one request at a time (a `CapacityLimiter(1)` around a worker
thread), real network timeouts, one saved session reused across restarts, no more than
`max_posts_per_day` posts and none closer than `min_interval_seconds`, and a pause of
`pause_minutes` (kept under `state/`) as soon as Instagram shows a challenge or asks it to
slow down. While paused or over a limit it answers not-ok at once, without a request.

Every attempt ends `sent`, `refused` (nothing was posted: safe to try again) or `unknown`:
configure (the request that makes the post) went out and its answer was lost (a timeout, a
broken connection, a 408, a 5xx, or `publish_timeout` while it was on its way). Configure
is sent at most once per attempt without an answer. The thread of an attempt the daemon
gave up on still records configure's answer when it comes (the "feed" destination).

Before Instagram is sent a post whose answer was lost, `find_published` looks at the "feed"
destination (a late answer), then for the post's caption among the account's most recent
posts (one request), so the post is sent again only if it is not there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import anyio
import structlog
from PIL import Image

from daemon.post import Post
from daemon.publisher import Publisher, PublisherContext, PublishResult
from daemon.publishers.instagram.albums import Albums
from daemon.publishers.instagram.caption import CaptionTooLongError, FittedCaption, fit_caption
from daemon.publishers.instagram.errors import Failure, describe
from daemon.publishers.instagram.feed import FeedMarks, MarkFailedError
from daemon.publishers.instagram.image import prepare_image
from daemon.publishers.instagram.recent import RecentPost, RecentPostsError, same_caption
from daemon.publishers.instagram.results import (
    FOUND_NOTE,
    RECORDED_NOTE,
    posted_result,
    recorded,
    warning_notes,
)
from daemon.publishers.instagram.session import InstagramSession
from daemon.publishers.instagram.settings import InstagramSettings
from daemon.publishers.instagram.state import Limits, LimitsFile
from daemon.publishers.instagram.upload import AnswerLostError, Posted, Steps

__all__ = [
    "FOUND_NOTE",
    "RECORDED_NOTE",
    "CannotTellError",
    "InstagramCheckError",
    "InstagramPublisher",
]

log = structlog.get_logger("dropcast.instagram")


class InstagramCheckError(Exception):
    """Raised by `check_connection` when Instagram cannot be reached or refuses the account."""


class CannotTellError(Exception):
    """Raised by `find_published` when it cannot tell whether Instagram has the post.

    Paused, the login refused, no answer, or no caption to look for: the daemon then leaves
    the delivery unknown and does not send the post again.
    """


class InstagramPublisher(Publisher[InstagramSettings]):
    """Posts each post (a photo, or an album as carousels) and its caption to one account."""

    platform_name = "instagram"
    settings_model = InstagramSettings
    tracks_destinations = True  # its configure calls, as "feed" or "carousel N"
    resend_after_unknown = "check"  # it can look for the caption among its recent posts
    # No call-level retry (`retry_on` stays the base class's None): a POST sent again through
    # instagrapi can publish the post twice (see `upload`, `session`). The daemon retries the
    # whole post later; one whose answer was lost, only after `find_published` looked.

    def __init__(self, settings: InstagramSettings, context: PublisherContext) -> None:
        super().__init__(settings, context)
        folder = context.state_dir / "instagram"
        self._limiter = anyio.CapacityLimiter(1)  # one Instagram action at a time
        self.session = InstagramSession(settings, folder)
        self.limits_file = LimitsFile(folder / f"{settings.username}.limits.json")
        self._login_stopped: str | None = None  # why logging in again is pointless
        # Held by the thread using the client, even one whose attempt was given up.
        self._in_use = threading.Lock()
        self._albums = Albums(self)

    async def publish(self, post: Post) -> PublishResult:
        feed = FeedMarks(self.context.progress.for_post(post, self.platform_name))
        # Given up (publish_timeout), the attempt returns at once; its thread finishes the
        # request it is in and records the answer itself (see `_turn`, `FeedMarks`).
        return await anyio.to_thread.run_sync(
            self._publish, post, feed, limiter=self._limiter, abandon_on_cancel=True
        )

    async def find_published(self, post: Post) -> PublishResult | None:
        """The post, if its "feed" destination was sent or one of the account's recent posts
        has its caption; None if neither.

        Raises `CannotTellError` (so the post is not sent again) when it cannot look.
        """
        feed = FeedMarks(self.context.progress.for_post(post, self.platform_name))
        return await anyio.to_thread.run_sync(self._find, post, feed, limiter=self._limiter)

    async def check_connection(self) -> str:
        return await anyio.to_thread.run_sync(self._check, limiter=self._limiter)

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self._close, limiter=self._limiter)

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """The client to this thread alone: an attempt given up may still be in a request."""
        while not self._in_use.acquire(timeout=0.1):
            anyio.from_thread.check_cancelled()  # this caller gave up waiting
        try:
            yield
        finally:
            self._in_use.release()

    def _publish(self, post: Post, feed: FeedMarks) -> PublishResult:
        with self._turn():
            if len(post.images) > 1:
                return self._albums.publish(post, feed)
            earlier = recorded(feed.known())
            return self._publish_now(post, feed) if earlier is None else earlier

    def _publish_now(self, post: Post, feed: FeedMarks) -> PublishResult:
        now = datetime.now(UTC)
        limits = self.limits_file.load()
        refusal = self.refusal(limits, now)
        if refusal is not None:
            return PublishResult.failure(refusal)
        try:
            caption = self.fitted(post)
            image = prepare_image(
                post.image, fit=self.settings.fit, pad_color=self.settings.pad_color
            )
        except CaptionTooLongError as error:
            return PublishResult.failure(str(error))
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            return PublishResult.failure(
                f"could not prepare {post.image.name} for Instagram: {error}"
            )
        if caption.changed:
            _log_shortened(post, caption)
        limits.last_upload_at = now
        self.limits_file.save(limits, now)
        alt = post.alt_for(0)
        result = self.send_marked(
            lambda steps: self.session.upload(image, caption.text, steps, alt), limits, feed
        )
        notes = caption.notes + image.notes + warning_notes(post)
        return replace(result, notes=notes) if result.ok else result

    def _find(self, post: Post, feed: FeedMarks) -> PublishResult | None:
        with self._turn():  # after a late answer from an attempt given up, if one is coming
            if len(post.images) > 1:
                return self._albums.find(post, feed)
            earlier = recorded(feed.known())
            return self._look(post) if earlier is None else earlier

    def _look(self, post: Post) -> PublishResult | None:
        try:
            caption = self.fitted(post).text
        except CaptionTooLongError:
            return None  # refused before any upload: it cannot be on the account
        return self._match(self.recent_posts([caption]), caption)

    def recent_posts(self, captions: list[str]) -> list[RecentPost]:
        """The account's recent posts, to look for `captions` among them; raises
        `CannotTellError` when it cannot look (or a caption is empty)."""
        limits = self.limits_file.load()
        refusal = self._login_stopped or limits.pause_refusal(datetime.now(UTC))
        if refusal is None and not all(caption.strip() for caption in captions):
            refusal = "the post has no caption to look for"
        if refusal is not None:
            raise _cannot_tell(refusal)
        try:
            return self.session.recent_posts(anyio.from_thread.check_cancelled)
        except RecentPostsError as error:
            raise _cannot_tell(str(error)) from None
        except Exception as error:
            refused = "refused to show the account's posts"
            raise _cannot_tell(self._failure(error, limits, refused=refused).message) from None

    def _match(self, recent: list[RecentPost], caption: str) -> PublishResult | None:
        account = self.settings.username
        for found in recent:
            if same_caption(caption, found.caption):
                log.info("instagram.post_found", account=account, code=found.code)
                result = posted_result(Posted(found.code, found.media_id), account)
                return replace(result, notes=(FOUND_NOTE,))
        log.info("instagram.post_not_found", account=account, posts_looked_at=len(recent))
        return None

    def refusal(self, limits: Limits, now: datetime, *, interval: bool = True) -> str | None:
        """Why no post may be made now, or None; `interval=False` for an album's second and
        later carousels in one attempt (they count per day, but follow at once)."""
        return self._login_stopped or limits.refusal(
            now,
            min_interval=self.settings.min_interval_seconds if interval else 0,
            max_per_day=self.settings.max_posts_per_day,
        )

    def fitted(self, post: Post, room: int = 0) -> FittedCaption:
        """The caption Instagram gets for `post`, `room` characters short of the limit (for a
        carousel's number); `CaptionTooLongError` under `too_long: fail`."""
        return fit_caption(
            post.caption_for(self.platform_name),
            max_chars=max(1, self.settings.max_caption_chars - room),
            max_hashtags=self.settings.max_hashtags,
            policy=self.settings.too_long,
        )

    def send_marked(
        self, send: Callable[[Steps], Posted], limits: Limits, feed: FeedMarks
    ) -> PublishResult:
        """`send` (one photo or one carousel) under `feed`'s marks, its answer in `limits`."""
        checkpoint = anyio.from_thread.check_cancelled
        steps = Steps(checkpoint, lambda: feed.sending(checkpoint), self.settings.request_timeout)
        try:
            posted = send(steps)
        except AnswerLostError as error:
            message = _lost(str(error))
            log.error("instagram.answer_lost", account=self.settings.username, reason=str(error))
            feed.unknown(message)
            return PublishResult.lost(message)
        except MarkFailedError as error:
            return PublishResult.failure(f"not sent: the ledger could not record it ({error})")
        except Exception as error:
            failure = self._failure(error, limits)  # a bug re-raises: the feed stays pending
            feed.refused(failure.message)
            return PublishResult(False, error=failure.message, needs_owner=failure.needs_owner)
        now = datetime.now(UTC)
        limits.published_at.append(now)
        self.limits_file.save(limits, now)
        result = posted_result(posted, self.settings.username)
        feed.sent(result.remote_id, result.url)
        return result

    def _close(self) -> None:
        with self._turn():
            self.session.close()

    def _check(self) -> str:
        with self._turn():
            return self._check_now()

    def _check_now(self) -> str:
        try:
            username = self.session.account()
        except Exception as error:
            failure = self._failure(error, self.limits_file.load())
            raise InstagramCheckError(failure.message) from None
        self._login_stopped = None
        now = datetime.now(UTC)
        limits = self.limits_file.load()
        if not limits.paused(now):
            return f"account @{username}"
        limits.lift_pause()
        self.limits_file.save(limits, now)
        log.info("instagram.pause_lifted", account=username, reason="check --connect succeeded")
        return f"account @{username} (the pause is lifted)"

    def _failure(
        self, error: Exception, limits: Limits, refused: str = "refused the post"
    ) -> Failure:
        """The failure `error` means, with its pause or login stop applied; re-raises a bug."""
        failure = describe(
            error,
            request_timeout=self.settings.request_timeout,
            totp=self.settings.totp_seed is not None,
            refused=refused,
        )
        if failure is None:
            raise error
        if failure.stop_login:
            self._login_stopped = failure.message
        if failure.pause:
            self._pause(limits, failure.message)
        return failure

    def _pause(self, limits: Limits, reason: str) -> None:
        now = datetime.now(UTC)
        until = now + timedelta(minutes=self.settings.pause_minutes)
        limits.pause(until, reason)
        self.limits_file.save(limits, now)
        log.error(
            "instagram.paused",
            account=self.settings.username,
            until=until.astimezone().isoformat(timespec="minutes"),
            reason=reason,
        )


def _log_shortened(post: Post, fitted: FittedCaption) -> None:
    log.warning(
        "instagram.caption_shortened",
        original_chars=len(post.caption_for(InstagramPublisher.platform_name)),
        chars=len(fitted.text),
        hashtags_dropped=fitted.dropped_hashtags,
        truncated=fitted.truncated,
        hint="set too_long: fail to be told instead, or give Instagram its own caption",
    )


def _lost(reason: str) -> str:
    return (
        f"Instagram's answer to the post was lost ({reason}): it may be on the account. "
        "Check the account, then `dropcast retry` if the post is missing"
    )


def _cannot_tell(reason: str) -> CannotTellError:
    return CannotTellError(
        f"could not tell whether Instagram already has this post ({reason}); it is not sent "
        "again: look at the account, then `dropcast retry` if the post is missing"
    )
