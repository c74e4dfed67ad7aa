"""The account's own most recent posts, for finding a post whose answer a crash lost.

One request, the one instagrapi's `user_medias_paginated_v1` makes (`GET feed/user/<id>/`),
sent through `private_request` directly: that method (and `user_medias_v1`, which may page
on) swallows every error that is not a `PrivateError` (a network error, a timeout) and
returns no posts, which would read as "not there" and post twice. Only the code and the
caption of each post are read, not instagrapi's `Media` model, so a post the model does not
know how to read cannot break the look-up.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from instagrapi import Client

RECENT_POSTS = 12  # one page, as the app's profile grid loads it


class RecentPostsError(Exception):
    """Raised by `recent_posts` when Instagram's answer holds no list of posts."""


@dataclass(frozen=True)
class RecentPost:
    """One of the account's posts: its shortcode, media id and caption."""

    code: str | None
    media_id: str | None
    caption: str


def recent_posts(client: Client, count: int = RECENT_POSTS) -> list[RecentPost]:
    """The account's `count` most recent posts, newest first (blocking; one request)."""
    user_id = client.user_id
    if not user_id:
        raise RecentPostsError("the session names no account")
    reply = client.private_request(
        f"feed/user/{user_id}/",
        params={
            "max_id": "",
            "count": count,
            "rank_token": client.rank_token,
            "ranked_content": "true",
        },
    )
    items = reply.get("items") if isinstance(reply, dict) else None
    if not isinstance(items, list):
        raise RecentPostsError("Instagram's answer about the account's posts held no posts")
    return [_post(item) for item in items[:count] if isinstance(item, dict)]


def _post(item: dict[str, Any]) -> RecentPost:
    caption = item.get("caption")
    text = caption.get("text") if isinstance(caption, dict) else None
    code, media_id = item.get("code"), item.get("pk") or item.get("id")
    return RecentPost(
        str(code) if code else None, str(media_id) if media_id else None, str(text or "")
    )


def same_caption(sent: str, shown: str) -> bool:
    """Whether Instagram's `shown` caption is the `sent` one (it may trim and re-space it)."""
    return _normal(sent) == _normal(shown)


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())
