"""The contract between the core and every platform: `Publisher`, `PublishResult`, `PublisherContext`.

A platform (a module or package in `daemon/publishers/`, or a third party's entry point in
the `dropcast.publishers` group, see `daemon.registry`):

- SHALL set `platform_name` and implement `publish`, returning a `PublishResult` for every
  expected failure (it raises only for the unexpected, which the core's error boundary turns
  into a failure of this platform alone);
- SHALL import its platform's library lazily (inside its methods), so a disabled platform
  costs nothing;
- SHOULD declare `settings_model` (its `platforms.<name>` section, validated by it), its
  retry (`retry_on` and a settings model with `CallRetrySettings`), and how it may resend
  after an unknown answer (`resend_after_unknown`, with `find_published` for "check");
- SHOULD mark each destination `sending` right before its first byte (`tracks_destinations`),
  so a crash is resumed where it stopped and never sent twice.

The core SHALL call `publish` inside a timeout and an error boundary, SHALL never call it
for a destination the ledger says has the post, and SHALL close a publisher it replaced.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Generic, Literal, TypeVar

from daemon.post import Post
from daemon.progress import MemoryProgress, ProgressStore
from daemon.retry import NO_RETRIES, ResendPolicy, RetryAfter, RetryPolicy, call_with_retries
from daemon.settings import CallRetrySettings, PlatformSettings

__all__ = [
    "AnyPublisher",
    "AttemptOutcome",
    "PublishResult",
    "Publisher",
    "PublisherClass",
    "PublisherContext",
    "ResendPolicy",
    "RetryAfter",
]

AttemptOutcome = Literal["sent", "refused", "unknown"]

T = TypeVar("T")


@dataclass(frozen=True)
class PublishResult:
    """What one platform did with one post. Expected failures are results, not exceptions.

    Every attempt ends in one of three ways (`outcome`): `sent` (the platform confirmed),
    `refused` (it answered no: safe to try again later), or `unknown` (the request may have
    reached the platform and no answer came: it is never sent again blindly).
    """

    ok: bool
    remote_id: str | None = None
    url: str | None = None
    error: str | None = None
    attempts: int = 1
    duration_ms: int = 0
    notes: tuple[str, ...] = ()  # what the owner should know, e.g. "image resized to fit"
    unknown: bool = False  # not ok, and it may have reached the platform all the same
    # Not ok, and no retry helps until the owner acts (a login refused, a challenge to
    # answer): the owner is alerted at once.
    needs_owner: bool = False

    @property
    def outcome(self) -> AttemptOutcome:
        return "sent" if self.ok else "unknown" if self.unknown else "refused"

    @classmethod
    def failure(cls, error: str, *, attempts: int = 1) -> PublishResult:
        """The platform refused (or was never reached): safe to try again later."""
        return cls(ok=False, error=error, attempts=attempts)

    @classmethod
    def owner_must_act(cls, error: str, *, attempts: int = 1) -> PublishResult:
        """Refused until the owner acts: `error` says what to do (log in again, say)."""
        return cls(ok=False, error=error, attempts=attempts, needs_owner=True)

    @classmethod
    def lost(cls, error: str, *, attempts: int = 1) -> PublishResult:
        """No answer came after the request may have reached the platform."""
        return cls(ok=False, error=error, attempts=attempts, unknown=True)


@dataclass(frozen=True)
class PublisherContext:
    """What the core hands every publisher besides its own settings."""

    state_dir: Path
    # Which destinations already have each post (the daemon's is kept in the ledger).
    progress: ProgressStore = field(default_factory=MemoryProgress, compare=False)


SettingsT = TypeVar("SettingsT", bound=PlatformSettings)


class Publisher(ABC, Generic[SettingsT]):
    """One platform. Subclasses set `platform_name` and `settings_model` and implement `publish`.

    `resend_after_unknown` says what to do when dropcast died after sending a post here but
    before the answer came: "safe" (sending again does no harm: send), "check" (ask the
    platform with `find_published`), or "never" (leave it to `dropcast retry`).
    """

    platform_name: ClassVar[str]
    settings_model: ClassVar[type[PlatformSettings]] = PlatformSettings
    resend_after_unknown: ClassVar[ResendPolicy] = "never"
    # True if `publish` marks each destination `sending` right before its first byte (see
    # `daemon.progress`): then a crash before any such mark sent nothing, and the delivery
    # is simply tried again, where otherwise it would be unknown.
    tracks_destinations: ClassVar[bool] = False

    def __init__(self, settings: SettingsT, context: PublisherContext) -> None:
        self.settings = settings
        self.context = context

    @property
    def is_enabled(self) -> bool:
        return self.settings.enabled

    @abstractmethod
    async def publish(self, post: Post) -> PublishResult:
        """Publish `post`; return a result (raise only for the unexpected)."""

    def retry_on(self, error: Exception) -> RetryAfter | None:
        """The retry declaration: whether a failed call may succeed if made again (and when).

        The default retries nothing; a platform that overrides it gives its settings model
        `CallRetrySettings` for the owner's knobs.
        """
        return None

    @property
    def retry_policy(self) -> RetryPolicy:
        """How often and how patiently `call` retries, from the platform's settings."""
        settings = self.settings
        return settings.retry_policy if isinstance(settings, CallRetrySettings) else NO_RETRIES

    async def call(
        self, operation: Callable[[], Awaitable[T]], *, retry: bool = True
    ) -> tuple[T, int]:
        """Run one platform call under the declared retry; return its value and attempts.

        Raises `daemon.retry.GaveUpError` once it failed for good. `retry=False` for a call
        that must not be repeated blindly.
        """
        policy = self.retry_policy if retry else NO_RETRIES
        return await call_with_retries(operation, self.retry_on, policy)

    async def find_published(self, post: Post) -> PublishResult | None:
        """For "check" platforms: the post if the platform already has it, else None."""
        return None

    async def check_connection(self) -> str:
        """Reach the platform as `dropcast check --connect` does; return what was found."""
        return "nothing to check"

    def status(self) -> str | None:
        """A short state worth showing the owner (systemd's STATUS), e.g. "paused until 14:00"."""
        return None

    async def close(self) -> None:
        """Release connections; called on shutdown and when the platform's settings change."""


AnyPublisher = Publisher[PlatformSettings]
PublisherClass = type[AnyPublisher]
