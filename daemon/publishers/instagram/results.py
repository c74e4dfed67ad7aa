"""The results the Instagram publisher returns for a post Instagram has, and their notes."""

from __future__ import annotations

import structlog

from daemon.post import Post
from daemon.progress import Destination, DestinationState
from daemon.publisher import PublishResult
from daemon.publishers.instagram.upload import Posted

log = structlog.get_logger("dropcast.instagram")

FOUND_NOTE = "found on the account after a restart; not posted again"
RECORDED_NOTE = (
    "Instagram's answer to an earlier attempt came late and was recorded then; not posted again"
)
NO_CONTENT_WARNING_NOTE = "Instagram has no content warning: posted without one"


def posted_result(posted: Posted, username: str) -> PublishResult:
    """The result for a post Instagram accepted."""
    if posted.code is None:  # accepted, but Instagram sent no post back: never post it again
        log.warning("instagram.post_unconfirmed", account=username, media_id=posted.media_id)
        return PublishResult(
            ok=True, remote_id=posted.media_id, url=f"https://www.instagram.com/{username}/"
        )
    return PublishResult(
        ok=True, remote_id=posted.code, url=f"https://www.instagram.com/p/{posted.code}/"
    )


def recorded(destination: Destination | None) -> PublishResult | None:
    """The post as an earlier attempt's answer recorded it, if Instagram accepted it."""
    if destination is None or destination.state is not DestinationState.SENT:
        return None
    log.info("instagram.post_recorded_earlier", remote_id=destination.remote_id)
    return PublishResult(
        ok=True, remote_id=destination.remote_id, url=destination.url, notes=(RECORDED_NOTE,)
    )


def warning_notes(post: Post) -> tuple[str, ...]:
    """The note for a post with a content warning: Instagram has no such thing."""
    return (NO_CONTENT_WARNING_NOTE,) if post.content_warning is not None else ()
