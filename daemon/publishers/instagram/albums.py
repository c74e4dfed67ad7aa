"""Publishing an album (a post of several images) as Instagram carousel posts, and finding it.

Each carousel post (see `album`) is its own destination, marked `sending` right before its
configure: one already `sent` is never posted again, so a crash after "carousel 1" resumes
at "carousel 2". Each carousel takes its first image's shape: the first is prepared as a
photo is (inside 4:5 … 1.91:1), the others are padded or cropped (`fit`) to its exact size,
since the app shows every item in the first one's frame. Alt text goes with each item.

The limits count each carousel as a post (`max_posts_per_day`); `min_interval_seconds` is
kept before an attempt's first carousel, and the album's others follow it at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

import structlog
from PIL import Image

from daemon.post import Post
from daemon.publisher import PublishResult
from daemon.publishers.instagram.album import Carousel, carousels, split_note
from daemon.publishers.instagram.caption import CaptionTooLongError, FittedCaption
from daemon.publishers.instagram.feed import FeedMarks
from daemon.publishers.instagram.image import PreparedImage, prepare_image, prepare_to_size
from daemon.publishers.instagram.recent import RecentPost, same_caption
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
from daemon.publishers.instagram.upload import Posted, Steps

log = structlog.get_logger("dropcast.instagram")

Done = dict[int, PublishResult]  # the album's carousels on the account, by number


class Host(Protocol):
    """What the album needs of the publisher (`InstagramPublisher`)."""

    settings: InstagramSettings
    session: InstagramSession
    limits_file: LimitsFile

    def refusal(self, limits: Limits, now: datetime, *, interval: bool = True) -> str | None: ...

    def fitted(self, post: Post, room: int = 0) -> FittedCaption: ...

    def send_marked(
        self, send: Callable[[Steps], Posted], limits: Limits, feed: FeedMarks
    ) -> PublishResult: ...

    def recent_posts(self, captions: list[str]) -> list[RecentPost]: ...


class Albums:
    """The album side of one Instagram publisher (blocking: called in its worker thread)."""

    def __init__(self, host: Host) -> None:
        self._host = host

    def publish(self, post: Post, feed: FeedMarks) -> PublishResult:
        """Post every carousel of `post` not on the account yet, in order."""
        parts = carousels(len(post.images))
        done = self._recorded(parts, feed)
        if len(done) == len(parts):
            return self._result(post, parts, done, (RECORDED_NOTE,))
        sent_now = 0
        for part in parts:
            if part.number in done:
                continue
            outcome = self._send(post, part, feed.named(part.name), interval=sent_now == 0)
            if not outcome.ok:
                return _stopped(outcome, part, done)
            done[part.number], sent_now = outcome, sent_now + 1
        return self._result(post, parts, done)

    def find(self, post: Post, feed: FeedMarks) -> PublishResult | None:
        """The album if all its carousels are on the account (marked, or found by caption);
        None if some are not (they are sent, the others marked sent are not)."""
        parts = carousels(len(post.images))
        known = feed.known_all()
        doubtful = [part for part in parts if part.name in known and known[part.name].in_doubt]
        found_now = self._look_for(post, doubtful, feed) if doubtful else 0
        done = self._recorded(parts, feed)
        if len(done) < len(parts):
            return None
        return self._result(post, parts, done, (FOUND_NOTE if found_now else RECORDED_NOTE,))

    def _look_for(self, post: Post, doubtful: list[Carousel], feed: FeedMarks) -> int:
        """Mark `sent` each of `doubtful` found on the account; return how many were."""
        captions = {}
        for part in doubtful:
            try:
                captions[part.number] = self._caption(post, part).text
            except CaptionTooLongError:
                continue  # refused before any upload: it cannot be on the account
        if not captions:
            return 0
        recent = self._host.recent_posts(list(captions.values()))
        found = 0
        for part in doubtful:
            match = _match(recent, captions.get(part.number))
            if match is not None:
                result = posted_result(Posted(match.code, match.media_id), self._username)
                feed.named(part.name).sent(result.remote_id, result.url)
                found += 1
        log.info("instagram.album_looked_for", looked_for=len(captions), found=found)
        return found

    def _send(
        self, post: Post, part: Carousel, marks: FeedMarks, *, interval: bool
    ) -> PublishResult:
        """Post one carousel, unless a limit forbids it now."""
        now = datetime.now(UTC)
        limits = self._host.limits_file.load()
        refusal = self._host.refusal(limits, now, interval=interval)
        if refusal is not None:
            return PublishResult.failure(refusal)
        try:
            caption = self._caption(post, part)
            images = self._prepare(post, part)
        except CaptionTooLongError as error:
            return PublishResult.failure(str(error))
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            return PublishResult.failure(f"could not prepare the album for Instagram: {error}")
        limits.last_upload_at = now
        self._host.limits_file.save(limits, now)
        alts = [post.alt_for(index) for index in part.images]
        result = self._host.send_marked(
            lambda steps: self._host.session.upload_carousel(images, alts, caption.text, steps),
            limits,
            marks,
        )
        notes = caption.notes + _item_notes(post, part, images)
        return replace(result, notes=notes) if result.ok else result

    def _caption(self, post: Post, part: Carousel) -> FittedCaption:
        fitted = self._host.fitted(post, part.marker_room)
        return replace(fitted, text=part.caption(fitted.text))

    def _prepare(self, post: Post, part: Carousel) -> list[PreparedImage]:
        """The carousel's JPEGs: its first as a photo, the others to the first one's size."""
        fit, pad_color = self._host.settings.fit, self._host.settings.pad_color
        paths = [post.images[index] for index in part.images]
        first = prepare_image(paths[0], fit=fit, pad_color=pad_color)
        size = (first.width, first.height)
        others = [prepare_to_size(path, size, fit=fit, pad_color=pad_color) for path in paths[1:]]
        return [first, *others]

    def _recorded(self, parts: list[Carousel], feed: FeedMarks) -> Done:
        known = feed.known_all()
        done: Done = {}
        for part in parts:
            earlier = recorded(known.get(part.name))
            if earlier is not None:
                done[part.number] = replace(earlier, notes=())
        return done

    def _result(
        self, post: Post, parts: list[Carousel], done: Done, extra: tuple[str, ...] = ()
    ) -> PublishResult:
        """The album's result: the first carousel's id and address, every note once."""
        first = done[1]
        links = [f"{part.name}: {done[part.number].url}" for part in parts[1:]]
        notes = [
            split_note(len(post.images), parts),
            *links,
            *(note for part in parts for note in done[part.number].notes),
            *warning_notes(post),
            *extra,
        ]
        unique = tuple(dict.fromkeys(note for note in notes if note))
        return PublishResult(ok=True, remote_id=first.remote_id, url=first.url, notes=unique)

    @property
    def _username(self) -> str:
        return self._host.settings.username


def _stopped(outcome: PublishResult, part: Carousel, done: Done) -> PublishResult:
    """`outcome` of carousel `part`, saying which carousels are on the account already."""
    if part.total == 1:
        return outcome
    there = ", ".join(str(number) for number in sorted(done)) or "none"
    error = (
        f"carousel {part.number} of {part.total}: {outcome.error} (carousels on the account: "
        f"{there}; they are not posted again)"
    )
    return replace(outcome, error=error)


def _item_notes(post: Post, part: Carousel, images: list[PreparedImage]) -> tuple[str, ...]:
    """What preparing each item did, naming its file."""
    return tuple(
        f"{post.images[index].name}: {note}"
        for index, image in zip(part.images, images, strict=True)
        for note in image.notes
    )


def _match(recent: list[RecentPost], caption: str | None) -> RecentPost | None:
    if caption is None:
        return None
    return next((found for found in recent if same_caption(caption, found.caption)), None)
