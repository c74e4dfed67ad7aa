"""The messages a chat gets of one post, in order, and their names as destinations.

A chat gets the post's first album (or its one image) with the caption's first piece, then
its further albums, then the caption's other pieces as replies to the first message. Each is
a destination of its own in the ledger, named after the chat:

- `@chan#0`: the image, or the first album (the name dropcast has always used for it);
- `@chan#1`, `@chan#2`, ...: the caption's further pieces (unchanged too);
- `@chan#album2`, `@chan#album3`, ...: the further albums of a post of more than 10 images.

Keeping the first two as they were means a ledger written by an earlier dropcast, for a post
in flight across an upgrade, still says which parts a chat has.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One message (or one album) of a post: album `group`, or else caption piece `piece`."""

    group: int | None  # which album, from 0; None for a caption reply
    piece: int = 0  # which piece of the caption a reply carries

    @property
    def is_head(self) -> bool:
        """The first album or image: the message the replies answer."""
        return self.group == 0

    def name(self, chat: str) -> str:
        if self.group is None:
            return f"{chat}#{self.piece}"
        return f"{chat}#0" if self.group == 0 else f"{chat}#album{self.group + 1}"


HEAD = Step(group=0)


def steps_of(groups: int, pieces: int) -> tuple[Step, ...]:
    """Every step of a post of `groups` albums and a caption in `pieces` pieces, in order."""
    albums = [Step(group=index) for index in range(max(1, groups))]
    replies = [Step(group=None, piece=index) for index in range(1, pieces)]
    return (*albums, *replies)
