"""The records dropcast writes: `app.bsky.feed.post`, each under a key chosen before it is sent.

A post's record key (`rkey`) is a TID (a timestamp identifier, 13 base32-sortable
characters) that dropcast picks and stores in the ledger before the request goes out, so
after a crash it can ask the server whether that very record exists (`getRecord`) instead of
posting it again; a second create under the same key is refused by the server anyway.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from daemon.frontmatter import ContentWarning
from daemon.publishers.bluesky.media import Blob
from daemon.publishers.bluesky.text import RichText

POST = "app.bsky.feed.post"
_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
_last_micros = [0]


def new_tid() -> str:
    """A fresh TID: microseconds since 1970 and a random clock id, later than the last one."""
    micros = max(time.time_ns() // 1000, _last_micros[0] + 1)
    _last_micros[0] = micros
    value = micros << 10 | secrets.randbelow(1024)
    return "".join(_SORTABLE[(value >> (5 * place)) & 31] for place in reversed(range(13)))


def post_uri(did: str, rkey: str) -> str:
    return f"at://{did}/{POST}/{rkey}"


def split_uri(uri: str) -> tuple[str, str]:
    """The repo (DID) and record key of a post's at:// URI."""
    repo, _, rkey = uri.removeprefix("at://").partition(f"/{POST}/")
    return repo, rkey


def web_url(handle: str, rkey: str) -> str:
    """Where the post is on the Bluesky app."""
    return f"https://bsky.app/profile/{handle}/post/{rkey}"


@dataclass(frozen=True)
class Ref:
    """A strong reference to a post: what a reply names its root and parent by."""

    uri: str
    cid: str


@dataclass(frozen=True)
class Image:
    blob: Blob
    ref: Any  # the `BlobRef` uploadBlob answered
    alt: str


def post_record(
    text: RichText,
    images: Sequence[Image],
    reply_to: tuple[Ref, Ref] | None,  # (root, parent)
    language: str,
    warning: ContentWarning | None,
) -> Any:
    """The `app.bsky.feed.post` record of one post of a thread."""
    from atproto_client import models

    return models.AppBskyFeedPost.Record(
        text=text.text,
        facets=text.facets or None,
        langs=[language],  # always: the SDK would otherwise say English
        created_at=_now_iso(),
        embed=_embed(images),
        labels=_labels(warning),
        reply=_reply(reply_to),
    )


def _embed(images: Sequence[Image]) -> Any:
    from atproto_client import models

    if not images:
        return None
    return models.AppBskyEmbedImages.Main(
        images=[
            models.AppBskyEmbedImages.Image(
                alt=image.alt,  # required: "" when the owner gave none
                image=image.ref,
                aspect_ratio=models.AppBskyEmbedDefs.AspectRatio(
                    width=image.blob.width, height=image.blob.height
                ),
            )
            for image in images
        ]
    )


def _labels(warning: ContentWarning | None) -> Any:
    """The self-label for the warning; dropcast's kinds are Bluesky's own label values."""
    from atproto_client import models

    if warning is None:
        return None
    label = models.ComAtprotoLabelDefs.SelfLabel(val=warning.kind)
    return models.ComAtprotoLabelDefs.SelfLabels(values=[label])


def _reply(reply_to: tuple[Ref, Ref] | None) -> Any:
    from atproto_client import models

    if reply_to is None:
        return None
    root, parent = (
        models.ComAtprotoRepoStrongRef.Main(uri=ref.uri, cid=ref.cid) for ref in reply_to
    )
    return models.AppBskyFeedPost.ReplyRef(root=root, parent=parent)


def _now_iso() -> str:
    """Now, as the record's `createdAt` wants it (UTC, milliseconds, a Z)."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
