"""An album too large for one message: split, in order, into messages the server takes.

Each image part's size is exact (its headers and base64); the rest of the message (the
text, the HTML, the headers, the boundaries) is taken from the message that carries them
all, which only overstates what a message with fewer images needs.
"""

from __future__ import annotations

from collections.abc import Sequence

# Bytes for what a part adds besides its images: "(1/2)" in the subject, an ID's length.
MARGIN = 1024


def split_to_fit(part_sizes: Sequence[int], whole: int, limit: int | None) -> list[range]:
    """Consecutive groups of images, each group's message at most `limit` bytes.

    `whole` is the size of the message with every image; None (no SIZE) or a message that
    fits gives one group. An image too large alone is a group of its own: the server's SIZE
    refuses it with the advice to lower max_attachment_mb, never dropped.
    """
    count = len(part_sizes)
    if limit is None or whole <= limit:
        return [range(count)]
    shared = whole - sum(part_sizes) + MARGIN
    groups: list[range] = []
    start, size = 0, shared
    for index, part in enumerate(part_sizes):
        if index > start and size + part > limit:
            groups.append(range(start, index))
            start, size = index, shared
        size += part
    groups.append(range(start, count))
    return groups


def part_name(address: str, number: int, total: int) -> str:
    """The destination of message `number` of `total` for `address` (the address alone for
    a post sent as one message, as before albums)."""
    return address if total == 1 else f"{address} ({number}/{total})"


def split_total(name: str) -> int | None:
    """How many messages the destination `name` says its post was split into, if any."""
    if not name.endswith(")") or " (" not in name:
        return None
    number, slash, total = name.rpartition(" (")[2][:-1].partition("/")
    return int(total) if slash and number.isdigit() and total.isdigit() else None


def describe_split(groups: Sequence[range], limit: int) -> str:
    """The note for the owner: how the album was split, and why."""
    count = sum(len(group) for group in groups)
    pieces = [
        f"({number}/{len(groups)}) with {_images(group)}"
        for number, group in enumerate(groups, start=1)
    ]
    return (
        f"the album of {count} images is larger than the server takes in one message "
        f"({limit:,} bytes): sent as {len(groups)} messages, {', '.join(pieces)}"
    )


def _images(group: range) -> str:
    first, last = group.start + 1, group.stop
    return f"image {first}" if first == last else f"images {first}-{last}"
