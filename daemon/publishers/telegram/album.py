"""A post's images as Telegram albums: how many per album, and which go as documents.

`sendMediaGroup` takes 2 to 10 items, and documents only with documents. A post with more
than 10 images goes as several albums, as few as hold them and as even as can be (12 images:
6 and 6; 21: 7, 7 and 7), so that no album is a lone image and each looks like the others.
Within one album, one image that must go as a document makes all of them documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from daemon.publishers.telegram.media import Media

ALBUM_LIMIT = 10  # items in one sendMediaGroup

Group = tuple[Media, ...]


def group_sizes(count: int) -> list[int]:
    """How many images each album holds: as few albums as fit, their sizes within one."""
    albums = max(1, -(-count // ALBUM_LIMIT))
    small, larger = divmod(count, albums)
    return [small + 1 if index < larger else small for index in range(albums)]


def as_groups(media: Sequence[Media]) -> tuple[Group, ...]:
    """`media` in albums, in order, each all photos or all documents."""
    groups: list[Group] = []
    start = 0
    for size in group_sizes(len(media)):
        groups.append(_alike(media[start : start + size]))
        start += size
    return tuple(groups)


def split_note(groups: Sequence[Group]) -> str | None:
    """For the result record, when the images did not fit one album."""
    if len(groups) < 2:
        return None
    sizes = [str(len(group)) for group in groups]
    listed = f"{', '.join(sizes[:-1])} and {sizes[-1]}"
    total = sum(len(group) for group in groups)
    return (
        f"{total} images sent as {len(groups)} albums of {listed} (Telegram takes at most "
        f"{ALBUM_LIMIT} images in one album); the caption goes with the first"
    )


def _alike(group: Sequence[Media]) -> Group:
    """An album is all photos or all documents: one document makes them all documents."""
    if len(group) > 1 and not all(item.as_photo for item in group):
        return tuple(replace(item, as_photo=False, scaled=None) for item in group)
    return tuple(group)
