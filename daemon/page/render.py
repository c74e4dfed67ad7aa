"""The page as HTML: one static file, every text from the ledger or a file escaped."""

from __future__ import annotations

from html import escape

from daemon.page.model import (
    Badge,
    BadgeState,
    FailedView,
    PageModel,
    Picture,
    PostView,
    WaitingView,
    iso_time,
    local_time,
)
from daemon.page.style import CSS

_SYMBOLS = {
    BadgeState.SENT: "✓",
    BadgeState.REFUSED: "✕",
    BadgeState.UNKNOWN: "?",
    BadgeState.WAITING: "↻",
    BadgeState.SENDING: "…",
    BadgeState.DISABLED: "\u2013",  # an en dash
}
_REFRESH_SECONDS = 60  # an open page catches up by itself; no script needed


def render_page(model: PageModel) -> str:
    sections = [_waiting_section(model), _failed_section(model), _posts_section(model)]
    body = "\n".join(section for section in sections if section)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta http-equiv="refresh" content="{_REFRESH_SECONDS}">
<title>{escape(model.title)} status</title>
<style>{CSS}</style></head>
<body><main>
<header><h1>{escape(model.title)}</h1>
<p class="summary">{_summary(model)}</p></header>
{body}
</main></body></html>
"""


def _summary(model: PageModel) -> str:
    parts = [f"Updated {_time(model.written_at)}", _count(len(model.posts), "recent post")]
    if model.failed:
        parts.append(_count(len(model.failed), "failed post"))
    if model.inbox_posts is not None:
        parts.append(f"{_count(model.inbox_posts, 'post')} in the inbox")
    if model.waiting:
        parts.append(_count(len(model.waiting), "file") + " waiting")
    return " · ".join(parts)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _time(timestamp: float) -> str:
    return f'<time datetime="{iso_time(timestamp)}">{escape(local_time(timestamp))}</time>'


def _waiting_section(model: PageModel) -> str:
    if not model.waiting:
        return ""
    items = "".join(_waiting_item(waiting) for waiting in model.waiting)
    return (
        '<section id="waiting"><h2>Waiting in the inbox</h2>'
        f'<div class="card"><ul class="plain">{items}</ul></div></section>'
    )


def _waiting_item(waiting: WaitingView) -> str:
    return (
        f'<li class="waiting-file"><span class="file" dir="auto">{escape(waiting.name)}</span> '
        f'<span class="muted">since {_time(waiting.since)}</span>'
        f'<div class="reason" dir="auto">{escape(waiting.reason)}</div></li>'
    )


def _failed_section(model: PageModel) -> str:
    if not model.failed:
        return ""
    items = "".join(_failed_item(failed) for failed in model.failed)
    return (
        '<section id="failed"><h2>Failed: these need you</h2>'
        f'<div class="card"><ul class="plain">{items}</ul></div></section>'
    )


def _failed_item(failed: FailedView) -> str:
    return (
        f'<li class="failed-post" data-post-id="{failed.id}">'
        f'<a class="file" href="#post-{failed.id}" dir="auto">{escape(failed.name)}</a>'
        f'<div class="reason" dir="auto">{escape(failed.reason)}</div>'
        f'<div class="to-do" dir="auto">{escape(failed.to_do)}</div></li>'
    )


def _posts_section(model: PageModel) -> str:
    posts = "\n".join(render_post(post) for post in model.posts)
    if not posts:
        posts = '<p class="card">No posts yet: drop photo.jpg and photo.txt into the inbox.</p>'
    return f'<section id="posts"><h2>Recent posts</h2>\n{posts}</section>'


def render_post(post: PostView) -> str:
    caption = escape(post.caption.strip("\n"))
    caption_html = (
        f'<p class="caption" dir="auto">{caption}</p>'
        if caption
        else '<p class="caption empty">(no caption)</p>'
    )
    note = f'<p class="note" dir="auto">{escape(post.note)}</p>' if post.note else ""
    badges = "".join(render_badge(badge) for badge in post.badges)
    return (
        f'<article class="card post" id="post-{post.id}" data-outcome="{escape(post.outcome)}">'
        f"<div>{_pictures(post)}</div><div>{_meta(post)}{note}{caption_html}"
        f'<ul class="badges">{badges}</ul></div></article>'
    )


def _meta(post: PostView) -> str:
    dropped = "" if post.name == post.dropped_as else f" (dropped as {escape(post.dropped_as)})"
    return (
        f'<p class="meta"><span class="outcome {_css(post.outcome)}">{escape(post.outcome)}</span>'
        f'<span class="name" dir="auto">{escape(post.name)}</span>{dropped}'
        f'<span class="place">{escape(post.place)}</span>{_time(post.seen_at)}</p>'
    )


def _css(outcome: str) -> str:
    return outcome if outcome.isalpha() else "waiting"


def _pictures(post: PostView) -> str:
    tags = "".join(_picture(picture, post.name) for picture in post.pictures)
    kind = "single" if len(post.pictures) == 1 else "album"
    pictures = f'<div class="pictures {kind}">{tags}</div>'
    if post.content_warning is None:
        return pictures
    return (
        f'<details class="warning"><summary>Content warning: {escape(post.content_warning)} '
        f"(show)</summary>{pictures}</details>"
    )


def _picture(picture: Picture, name: str) -> str:
    if picture.thumbnail is None:
        return f'<div class="placeholder">no preview: {escape(picture.name)} (gone or not readable)</div>'
    alt = escape(picture.alt or f"{name}: {picture.name}")
    return f'<img src="{escape(picture.thumbnail)}" alt="{alt}">'


def render_badge(badge: Badge) -> str:
    state = str(badge.state)
    detail = "" if badge.text == state else f' <span class="detail">{escape(badge.text)}</span>'
    link = f' <a class="link" href="{escape(badge.link)}">open the post</a>' if badge.link else ""
    return (
        f'<li class="badge {state}" data-platform="{escape(badge.platform)}" '
        f'data-state="{state}"><span class="platform">{escape(badge.platform)}</span> '
        f'<span class="state">{_SYMBOLS[badge.state]} {state}</span>{detail}{link}</li>'
    )
