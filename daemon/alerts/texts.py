"""The words of each alert: what happened, to which posts, and what to do (the exact command).

Errors quoted here are the platforms' own results, written never to hold a secret; the
alert is redacted once more before it is sent.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from daemon.alerts.message import Alert
from daemon.config import ApplicationConfig

MAX_NAMES = 10  # posts named in one alert; the rest are counted


@dataclass(frozen=True)
class Occurrence:
    """One post the problem struck, and the error it got."""

    post: str
    error: str | None = None


@dataclass(frozen=True)
class Commands:
    """The owner's commands and folders, as this config names them."""

    config: Path
    inbox: Path
    failed: Path

    @classmethod
    def of(cls, config: ApplicationConfig) -> Commands:
        return cls(config.path, config.core.inbox, config.core.failed)

    def dropcast(self, *arguments: str) -> str:
        return shlex.join(["dropcast", "--config", str(self.config), *arguments])


def names(occurrences: Sequence[Occurrence]) -> str:
    """`walk, beach and 3 more`: the posts, each once, in order."""
    unique = list(dict.fromkeys(o.post for o in occurrences))
    shown = ", ".join(unique[:MAX_NAMES])
    more = len(unique) - MAX_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def _last_error(occurrences: Sequence[Occurrence]) -> str:
    last = occurrences[-1]
    return f"Last error ({last.post}): {last.error or 'none given'}"


def failing(
    platform: str, in_a_row: Sequence[str], since: Sequence[Occurrence], commands: Commands
) -> Alert:
    """A platform refused the last posts, one after the other."""
    last = since[-1].post
    body = "\n".join(
        [
            f"{platform} has not taken the last {len(in_a_row)} posts: "
            f"{names([Occurrence(p) for p in in_a_row])}.",
            _last_error(since),
            "",
            f"What to do: fix what the error names (platforms.{platform} in {commands.config}; "
            "dropcast reads it again when it is saved). Posts waiting in the inbox are tried "
            f"again by themselves. A post archived without {platform} goes there with:",
            f"  {commands.dropcast('retry', last)}",
            "Every post's state:",
            f"  {commands.dropcast('status')}",
        ]
    )
    subject = f"{platform} is failing: {len(in_a_row)} posts in a row"
    return Alert(f"{platform} failing", subject, body)


def needs_owner(platform: str, since: Sequence[Occurrence], commands: Commands) -> Alert:
    """A platform wants the owner: a login refused, a challenge to answer."""
    body = "\n".join(
        [
            f"{platform} will not take posts until you act (it refused {names(since)}).",
            f"What it said: {since[-1].error or 'nothing more'}",
            "",
            f"What to do: what it says, in platforms.{platform} of {commands.config} (dropcast "
            "reads the file again when it is saved), then check the login with:",
            f"  {commands.dropcast('check', '--connect')}",
            "Posts waiting in the inbox are tried again by themselves.",
        ]
    )
    return Alert(f"{platform} needs the owner", f"{platform} needs you: log in again", body)


def unknown(platform: str, since: Sequence[Occurrence], commands: Commands) -> Alert:
    """No answer came for a post that may have reached the platform."""
    unique = list(dict.fromkeys(o.post for o in since))
    retries = [f"  {commands.dropcast('retry', post)}" for post in unique[:MAX_NAMES]]
    body = "\n".join(
        [
            f"No answer came from {platform} for {names(since)}: it may have arrived, so "
            "dropcast does not send it again by itself (it would appear twice).",
            _last_error(since),
            "",
            f"What to do: look on {platform} whether it is there. If it is, nothing to do. "
            "If it is not, send it with:",
            *retries,
        ]
    )
    subject = f"{names(since)}: did it reach {platform}? dropcast cannot tell"
    return Alert(f"{platform} unknown", subject, body)


def posts_failed(since: Sequence[Occurrence], commands: Commands) -> Alert:
    """Posts no platform took, moved to failed/."""
    reasons = [f"  {o.post}: {o.error or 'no reason given'}" for o in since[-MAX_NAMES:]]
    many = len({o.post for o in since}) > 1
    body = "\n".join(
        [
            f"{names(since)} could not be published anywhere and "
            f"{'are' if many else 'is'} now in {commands.failed}.",
            "Why:",
            *reasons,
            "",
            f"What to do: fix the cause, then move the post's files from {commands.failed} "
            f"back into {commands.inbox}: dropcast publishes them again. Every post's state:",
            f"  {commands.dropcast('status', '--failed')}",
        ]
    )
    subject = f"{names(since)} could not be published anywhere"
    return Alert("posts failed", subject, body)


def recovered(platform: str, post: str, commands: Commands) -> Alert:
    """A platform the owner was told about works again."""
    body = "\n".join(
        [
            f"{platform} took {post}: it works again.",
            f"Posts archived without {platform} while it failed go there with:",
            f"  {commands.dropcast('retry', '--all')}",
        ]
    )
    return Alert(f"{platform} recovered", f"{platform} works again", body)
