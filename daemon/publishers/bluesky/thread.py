"""How one post becomes a Bluesky thread: each part's text and images, and what to tell the owner.

A post holds at most 300 graphemes and 4 images. The caption is split into as few parts as
fit (`text.split_caption`), the images go 4 to a part from the first, and the thread is as
long as the longer of the two: parts beyond the caption's carry images only. Each part is a
destination in the ledger, "part 1", "part 2", ... whose remote id is its at:// URI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from daemon.publishers.bluesky.text import POST_LIMIT, split_caption

IMAGES_PER_POST = 4


@dataclass(frozen=True)
class Part:
    number: int  # from 1: the root is part 1
    text: str
    images: tuple[int, ...]  # indexes into the post's images

    @property
    def name(self) -> str:
        return part_name(self.number)


def part_name(number: int) -> str:
    return f"part {number}"


def plan_thread(caption: str, image_count: int) -> list[Part]:
    """The parts of a post with `caption` and `image_count` images, in order."""
    texts = split_caption(caption)
    count = max(1, len(texts), math.ceil(image_count / IMAGES_PER_POST))
    return [
        Part(
            number=index + 1,
            text=texts[index] if index < len(texts) else "",
            images=tuple(
                range(index * IMAGES_PER_POST, min(image_count, (index + 1) * IMAGES_PER_POST))
            ),
        )
        for index in range(count)
    ]


def thread_notes(parts: list[Part], image_count: int) -> list[str]:
    """What the owner should know about the thread's shape (nothing for a single post)."""
    if len(parts) == 1:
        return []
    texts = sum(1 for part in parts if part.text)
    why = []
    if texts > 1:
        why.append(f"the caption in {texts} posts of at most {POST_LIMIT} graphemes")
    if image_count > IMAGES_PER_POST:
        groups = math.ceil(image_count / IMAGES_PER_POST)
        why.append(f"the {image_count} images {IMAGES_PER_POST} to a post, in {groups} posts")
    return [f"posted as a thread of {len(parts)} posts on Bluesky: {'; '.join(why)}"]
