"""What the status page shows, as plain values: built from the ledger, rendered as HTML."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class BadgeState(StrEnum):
    SENT = "sent"  # the platform has it: a link to the live post when it gave one
    REFUSED = "refused"  # it said no, and the post is filed: the reason
    UNKNOWN = "unknown"  # no answer came: what to do
    WAITING = "waiting"  # it will be tried (again): when
    SENDING = "sending"  # being sent right now
    DISABLED = "disabled"  # not enabled, or not among the post's platforms


@dataclass(frozen=True)
class Badge:
    """One platform's outcome for one post."""

    platform: str
    state: BadgeState
    text: str  # the reason, what to do, or when: plain text
    link: str | None = None  # the live post (only http, https and file URLs)


@dataclass(frozen=True)
class Picture:
    """One image of a post: its thumbnail (a path relative to the page), else a placeholder."""

    name: str  # the image file's name, shown when there is no thumbnail
    thumbnail: str | None
    alt: str = ""


@dataclass(frozen=True)
class PostView:
    """A post as the page shows it."""

    id: int  # the ledger's: the page's anchor and its thumbnails' names
    name: str  # its archived name (`party-1`), else its name in the inbox
    dropped_as: str
    place: str  # where its files are: `archive/2025-05-01`, `failed`, `inbox`
    outcome: str  # published, partial, failed, duplicate, or `in the inbox`
    note: str  # the post's own word: why it failed, when it is tried again, what it duplicates
    seen_at: float
    caption: str
    content_warning: str | None
    pictures: tuple[Picture, ...]
    badges: tuple[Badge, ...]


@dataclass(frozen=True)
class FailedView:
    """A post in `failed/`: why, and what to do."""

    id: int
    name: str
    reason: str
    to_do: str


@dataclass(frozen=True)
class WaitingView:
    """A file in the inbox that waits for something (its caption, say), and why."""

    name: str
    reason: str
    since: float


@dataclass(frozen=True)
class PageModel:
    title: str
    written_at: float
    posts: tuple[PostView, ...] = ()
    failed: tuple[FailedView, ...] = ()
    waiting: tuple[WaitingView, ...] = ()
    inbox_posts: int | None = None  # as the inbox last said; None before it said anything


def local_time(timestamp: float) -> str:
    """A wall-clock time as the owner reads it: local, to the minute, with its zone."""
    moment = datetime.fromtimestamp(timestamp).astimezone()
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname() or ''}".rstrip()


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")
