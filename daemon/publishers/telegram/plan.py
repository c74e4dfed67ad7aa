"""What every chat gets of one post: its albums, the caption's pieces, and what the owner is told.

A content warning hides every photo behind Telegram's spoiler (`has_spoiler`). A document
cannot be hidden so, so a warned post's images are scaled to fit a photo whatever `oversize`
says, and a warned image that no scaling makes a photo (an aspect ratio over 20:1) stops the
post rather than going out uncovered.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.post import Post
from daemon.progress import Destination
from daemon.publishers.telegram.album import Group, split_note
from daemon.publishers.telegram.media import Media, Oversize
from daemon.publishers.telegram.steps import Step, steps_of
from daemon.publishers.telegram.text import CAPTION_LIMIT

NO_ALT_TEXT = "Telegram shows no alt text"


@dataclass(frozen=True)
class Plan:
    """The post's albums (one image: one album of one), then the caption's pieces."""

    groups: tuple[Group, ...]
    pieces: tuple[str, ...]  # the first goes with the images; each other one is a message
    known: dict[str, Destination]  # each chat's parts from earlier attempts, by part name
    spoiler: bool = False  # a content warning: every photo hidden behind a spoiler
    has_alt: bool = False  # the owner wrote alt text, which Telegram cannot show

    @property
    def media(self) -> tuple[Media, ...]:
        return tuple(item for group in self.groups for item in group)

    @property
    def steps(self) -> tuple[Step, ...]:
        return steps_of(len(self.groups), len(self.pieces))

    @property
    def notes(self) -> tuple[str, ...]:
        """For the result record: images not sent as they are, splits, what Telegram lacks."""
        notes = [item.note for item in self.media if item.note is not None]
        notes += [note for note in (split_note(self.groups), self._caption_note()) if note]
        if self.has_alt:
            notes.append(NO_ALT_TEXT)
        return tuple(notes)

    def _caption_note(self) -> str | None:
        if len(self.pieces) < 2:
            return None
        replies = len(self.pieces) - 1
        holder = "image's" if len(self.media) == 1 else "album's"
        return (
            f"caption split into {len(self.pieces)} messages (Telegram takes "
            f"{CAPTION_LIMIT:,} characters with an image): the {holder} caption and "
            f"{replies} {'reply' if replies == 1 else 'replies'}"
        )


def oversize_for(post: Post, configured: Oversize) -> Oversize:
    """A warned post's images must be photos to be hidden: scale them, never a document."""
    return "scale" if post.content_warning is not None else configured


def uncovered(post: Post, media: tuple[Media, ...]) -> str | None:
    """Why a warned post cannot go: an image that would go as a document, uncovered."""
    if post.content_warning is None:
        return None
    for item in media:  # (one with a reason of its own: the others in its album follow it)
        if not item.as_photo and item.reason is not None:
            return (
                f"{item.path.name} cannot go as a photo ({item.reason}), and a document "
                "cannot be hidden behind a spoiler: the post has a content warning, so it "
                "is not sent to Telegram"
            )
    return None
