"""An album on Instagram: carousel posts of 2 to 10 images, in the album's order.

Instagram takes at most 10 items in a carousel and at least 2. An album of more than 10
goes as several carousel posts: full ones of 10, then the rest; a last one of 1 takes an
image from the one before (11 images: 9 and 2). Each carousel post is its own destination,
"carousel 1", "carousel 2", ..., so a crash after carousel 1 resumes at carousel 2.

Each of several carousel posts carries the caption with its number, "(1/2)", "(2/2)": each
is a post of its own on the profile and in followers' feeds, seen without the others, and
each must be told apart from the others by its caption when a crash lost an answer.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_ITEMS = 2
MAX_ITEMS = 10


@dataclass(frozen=True)
class Carousel:
    """One carousel post of an album: its number (from 1), of how many, and its images."""

    number: int
    total: int
    images: range  # indexes into the post's images

    @property
    def name(self) -> str:
        """Its destination name."""
        return f"carousel {self.number}"

    @property
    def marker(self) -> str:
        """What follows the caption: its number, when the album makes several carousels."""
        return "" if self.total == 1 else f"({self.number}/{self.total})"

    def caption(self, fitted: str) -> str:
        """The caption this carousel gets, from the caption fitted to `marker_room` less."""
        if not self.marker:
            return fitted
        return f"{fitted.rstrip()}\n\n{self.marker}" if fitted.strip() else self.marker

    @property
    def marker_room(self) -> int:
        """The characters `caption` adds to the fitted caption (at most)."""
        return len(self.marker) + 2 if self.marker else 0


def carousels(count: int) -> list[Carousel]:
    """The carousel posts of an album of `count` images (at least 2), in order."""
    if count < MIN_ITEMS:
        raise ValueError(f"an album has at least {MIN_ITEMS} images, not {count}")
    groups = [range(start, min(start + MAX_ITEMS, count)) for start in range(0, count, MAX_ITEMS)]
    if len(groups[-1]) < MIN_ITEMS:  # 10 + 1: the last one borrows an image
        before = groups[-2]
        groups[-2:] = [range(before.start, before.stop - 1), range(before.stop - 1, count)]
    return [Carousel(number, len(groups), group) for number, group in enumerate(groups, 1)]


def split_note(count: int, parts: list[Carousel]) -> str | None:
    """The note saying the album was split; None when it went as one carousel."""
    if len(parts) == 1:
        return None
    sizes = ", ".join(str(len(part.images)) for part in parts[:-1])
    sizes += f" and {len(parts[-1].images)}"
    return (
        f"the album's {count} images went as {len(parts)} carousel posts of {sizes} images "
        f"(Instagram takes at most {MAX_ITEMS} in one), each with the caption and its number "
        f"(1/{len(parts)} ...)"
    )
