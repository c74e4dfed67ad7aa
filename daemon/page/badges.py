"""Each platform's badge for a post, from what the ledger says of its delivery."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from daemon.ledger import Delivery, DeliveryState, PostRow
from daemon.page.model import Badge, BadgeState, local_time
from daemon.record import to_do
from daemon.secrets import REDACTOR

_LINK_SCHEMES = frozenset({"http", "https", "file"})


def post_badges(
    row: PostRow, deliveries: Mapping[str, Delivery], platforms: Mapping[str, bool]
) -> tuple[Badge, ...]:
    """A badge for every platform in the config (`platforms`: name → enabled) and for every
    platform the post went to, in the config's order, then the others by name."""
    names = [*platforms, *sorted(set(deliveries) - set(platforms))]
    return tuple(
        badge(name, deliveries.get(name), row, enabled=platforms.get(name, False)) for name in names
    )


def badge(platform: str, delivery: Delivery | None, row: PostRow, *, enabled: bool) -> Badge:
    """One platform's outcome: its delivery read with the post's own state (filed or not)."""
    if delivery is None:
        return _not_tried(platform, row, enabled=enabled)
    state = delivery.state
    if state is DeliveryState.SENT:
        return Badge(platform, BadgeState.SENT, _sent_text(delivery), safe_link(delivery.url))
    if state is DeliveryState.PENDING and not row.decided:
        return Badge(platform, BadgeState.SENDING, "being sent now")
    if state is DeliveryState.FAILED:
        return _refused(platform, delivery, row)
    reason = _redacted(delivery.error)
    text = to_do(delivery) or "unknown: check the platform, then `dropcast retry`"
    return Badge(platform, BadgeState.UNKNOWN, f"{text} ({reason})" if reason else text)


def _not_tried(platform: str, row: PostRow, *, enabled: bool) -> Badge:
    if not enabled:
        return Badge(platform, BadgeState.DISABLED, "not enabled")
    if row.outcome == "duplicate":
        return Badge(platform, BadgeState.DISABLED, "not sent: a duplicate")
    if row.outcome == "failed":
        return Badge(platform, BadgeState.DISABLED, "not sent: the post failed")
    if row.decided:
        return Badge(platform, BadgeState.DISABLED, "not among this post's platforms")
    return Badge(platform, BadgeState.WAITING, _next_attempt(row) or "not sent yet")


def _refused(platform: str, delivery: Delivery, row: PostRow) -> Badge:
    reason = _redacted(delivery.error) or "refused"
    if row.decided:
        return Badge(platform, BadgeState.REFUSED, reason)
    when = _next_attempt(row) or "tried again soon"
    return Badge(platform, BadgeState.WAITING, f"{when}; last time: {reason}")


def _next_attempt(row: PostRow) -> str | None:
    if row.next_attempt_at is None:
        return None
    return f"next attempt {local_time(row.next_attempt_at)}"


def _sent_text(delivery: Delivery) -> str:
    parts = len(delivery.destinations)
    return "sent" if parts <= 1 else f"sent ({parts} parts)"


def safe_link(url: str | None) -> str | None:
    """`url` if it may be a link on the page (http, https, file), else None."""
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in _LINK_SCHEMES else None


def failed_reason(row: PostRow, deliveries: Iterable[Delivery]) -> str:
    """Why a post failed: its own error, else each platform's."""
    own = _redacted(row.error)
    if own:
        return own
    reasons = [f"{d.platform}: {_redacted(d.error) or d.state}" for d in deliveries]
    return "; ".join(reasons) or "no platform accepted it"


def _redacted(text: str | None) -> str | None:
    return None if text is None else REDACTOR.redact(text)
