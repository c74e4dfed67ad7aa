"""A post as a thread of statuses: which caption piece and which images each part carries.

Part 1 carries the first piece of the caption and the first `max_media_attachments`
images; each further part replies to the one before with the next piece and the next
images, until both are used up. The plan depends only on the post and the server's limits,
so every attempt (and a restart) makes the same parts under the same names.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from daemon.post import Post

__all__ = ["Part", "idempotency_key", "plan_thread", "split_notes"]


@dataclass(frozen=True)
class Part:
    """One status of the thread."""

    number: int  # from 1
    text: str
    images: tuple[int, ...]  # indexes into the post's images

    @property
    def name(self) -> str:
        """The part as a destination in the ledger."""
        return f"part {self.number}"


def plan_thread(pieces: list[str], image_count: int, per_status: int) -> list[Part]:
    """The thread's parts for the caption's `pieces` and `image_count` images."""
    groups = math.ceil(image_count / per_status)
    count = max(1, len(pieces), groups)
    return [
        Part(
            number=index + 1,
            text=pieces[index] if index < len(pieces) else "",
            images=tuple(range(index * per_status, min(image_count, (index + 1) * per_status))),
        )
        for index in range(count)
    ]


def split_notes(parts: list[Part], pieces: int, max_characters: int, per_status: int) -> list[str]:
    """What the owner should know about how the post was spread over the thread."""
    notes = []
    if pieces > 1:
        notes.append(
            f"caption split into {pieces} statuses (the server takes {max_characters:,} "
            f"characters a status): a thread of replies"
        )
    with_images = [part for part in parts if part.images]
    if len(with_images) > 1:
        counts = ", ".join(str(len(part.images)) for part in with_images)
        notes.append(
            f"images spread over {len(with_images)} statuses ({counts}; the server takes "
            f"{per_status} a status)"
        )
    return notes


def idempotency_key(post: Post, part: Part) -> str:
    """The `Idempotency-Key` of one part: the same for every attempt at it, on any restart."""
    identity = post.identity or hashlib.sha256(f"{post.stem}\0{post.caption}".encode()).hexdigest()
    return f"dropcast-{identity[:48]}-{part.number}"
