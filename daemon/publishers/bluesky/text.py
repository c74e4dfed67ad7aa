"""A caption as Bluesky posts: pieces of at most 300 graphemes, and each piece's facets.

Bluesky shows links, mentions and hashtags as such only where the record's `facets` say so,
by UTF-8 byte offsets into the text. They are found with the SDK's port of the official
app's rules (`atproto_client.utils.facet_detection`); a mention becomes a facet only if its
handle resolves to a DID. A thread is cut at the shared splitter's best boundary, never
inside a link, a mention or a hashtag.
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from daemon.text_split import split_text

POST_LIMIT = 300  # graphemes a post's text may hold

Resolve = Callable[[str], Awaitable[str | None]]  # a handle's DID, None if it has none


@dataclass(frozen=True)
class RichText:
    """One post's text and its facets (the SDK's `AppBskyRichtextFacet.Main`)."""

    text: str
    facets: list[Any] = field(default_factory=list)
    unresolved: tuple[str, ...] = ()  # mentioned handles with no DID: left as plain text


def split_caption(caption: str) -> list[str]:
    """`caption` as the texts of a thread's posts, each at most `POST_LIMIT` graphemes."""
    return split_text(caption, POST_LIMIT, keep_whole=_facet_spans(caption))


async def rich_text(text: str, resolve: Resolve) -> RichText:
    """`text` with facets for its links, hashtags and the mentions `resolve` finds a DID for."""
    from atproto_client import models
    from atproto_client.utils import facet_detection

    facets = list(facet_detection.detect_facets(text))
    unresolved: list[str] = []
    for mention in facet_detection.detect_mentions(text):
        did = await resolve(mention.handle.lower())
        if did is None:
            unresolved.append(mention.handle)
            continue
        facets.append(
            models.AppBskyRichtextFacet.Main(
                features=[models.AppBskyRichtextFacet.Mention(did=did)],
                index=models.AppBskyRichtextFacet.ByteSlice(
                    byte_start=mention.byte_start, byte_end=mention.byte_end
                ),
            )
        )
    facets.sort(key=lambda facet: facet.index.byte_start)
    return RichText(text, facets, tuple(dict.fromkeys(unresolved)))


def _facet_spans(text: str) -> list[tuple[int, int]]:
    """Where `text`'s links, hashtags and mentions are, as (start, end) character offsets."""
    from atproto_client.utils import facet_detection

    spans = [(f.index.byte_start, f.index.byte_end) for f in facet_detection.detect_facets(text)]
    spans += [(m.byte_start, m.byte_end) for m in facet_detection.detect_mentions(text)]
    ends = _byte_offsets(text)
    return [(bisect.bisect_left(ends, a), bisect.bisect_left(ends, b)) for a, b in spans]


def _byte_offsets(text: str) -> list[int]:
    """The UTF-8 offset of each character of `text`, and of its end."""
    offsets = [0]
    for character in text:
        offsets.append(offsets[-1] + len(character.encode("utf-8")))
    return offsets
