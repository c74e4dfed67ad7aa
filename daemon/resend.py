"""`dropcast retry`: archived posts sent again to the platforms that did not accept them.

It runs beside the daemon, which sends only the inbox's posts, and never beside another
retry (`RetryLock`). A refused delivery is sent again; one whose answer is unknown as
`resend_decision` says for the owner (looked for first where the platform can tell). It
goes through the workflow's own `deliver`, so the ledger records it the same way; the
result record is rewritten in place and the post stays in the archive.

It tells the owner when a name is not something to retry (no such post, a post in `failed/`,
whose way back is the inbox) and, while the config does not load, refuses to send: the
platforms' settings are in that config, and the owner at the terminal may be changing
exactly them (a chat, an address), so an older copy could send to where they no longer want.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import anyio
import structlog

from daemon.archive import RECORD_SUFFIX, Filing, write_record
from daemon.config import ApplicationConfig, CoreSettings
from daemon.frontmatter import ContentWarningChoice
from daemon.inbox import CAPTION_SUFFIX, IMAGE_SUFFIXES
from daemon.ledger import (
    AsyncLedger,
    Delivery,
    DeliveryState,
    Ledger,
    LedgerProgress,
    PostRow,
    ledger_path,
)
from daemon.lock import RetryLock
from daemon.platforms import ActivePlatforms, Lease
from daemon.post import Post, PostRejectedError, read_post, set_max_image_pixels
from daemon.publisher import AnyPublisher
from daemon.record import Outcome, build_record
from daemon.registry import Registry
from daemon.workflow import deliver

log = structlog.get_logger("dropcast.retry")

# What `dropcast retry` takes up: refused, unknown, and pending in an archived post (its answer
# could not be recorded, a full disk say: it is in doubt like an unknown one).
RETRYABLE = (DeliveryState.FAILED, DeliveryState.UNKNOWN, DeliveryState.PENDING)

Say = Callable[[str], None]  # where the command's lines for the owner go


class RetryRefusedError(Exception):
    """Raised when `dropcast retry` does not retry what it was asked to: no post by that name,
    a post in `failed/` or still in the inbox, or a config that does not load."""


async def retry_archived(
    config: ApplicationConfig,
    registry: Registry,
    stem: str | None,
    say: Say = print,
    config_loaded: bool = True,
) -> bool:
    """Send post `stem` (None: every post that needs it) again; True if all are published now.

    Without `config_loaded` (`config` then holds only the folders its file names), what
    needs a retry is refused. Raises `RetryRefusedError` for what cannot be
    retried, and `InboxLockedError` while another retry runs.
    """
    if not config.core.state.is_dir():  # nothing handled yet: and nothing is made
        return _nothing_to_retry(config.core, [], stem, say)
    with RetryLock(config.core.state):  # first: a second retry is told of the first
        if not ledger_path(config.core.state).exists():
            return _nothing_to_retry(config.core, [], stem, say)
        return await _retry_locked(config, registry, stem, say, config_loaded)


async def _retry_locked(
    config: ApplicationConfig,
    registry: Registry,
    stem: str | None,
    say: Say,
    config_loaded: bool,
) -> bool:
    set_max_image_pixels(config.core.max_image_pixels)  # the archived images are read again
    ledger = Ledger(ledger_path(config.core.state))
    try:
        ledger.recover(archived=True)  # what an earlier retry, killed, left pending
        rows = _posts_to_retry(ledger, stem)
        if not rows:
            return _nothing_to_retry(config.core, ledger.by_stem(stem) if stem else [], stem, say)
        if not config_loaded:
            raise RetryRefusedError(_refusal(rows, config))
        return await _send_again(AsyncLedger(ledger), config, registry, rows, say)
    finally:
        ledger.close()


async def _send_again(
    ledger: AsyncLedger,
    config: ApplicationConfig,
    registry: Registry,
    rows: list[PostRow],
    say: Say,
) -> bool:
    platforms = ActivePlatforms(registry, config, LedgerProgress(ledger))
    try:
        async with platforms.lease() as lease:
            published = [await _retry_one(ledger, row, lease, say) for row in rows]
    finally:
        await platforms.aclose()
    return all(published)


def _posts_to_retry(ledger: Ledger, stem: str | None) -> list[PostRow]:
    retryable = ledger.retryable()
    if stem is None:
        return retryable
    ids = {row.id for row in retryable}
    return [row for row in ledger.by_stem(stem) if row.id in ids][:1]


def _nothing_to_retry(core: CoreSettings, named: list[PostRow], stem: str | None, say: Say) -> bool:
    """Say that nothing needs a retry (True); raise if `stem` names nothing it could retry."""
    if stem is None:
        say("nothing to retry: no archived post needs it")
        return True
    if _in_inbox(core.inbox, stem):
        raise RetryRefusedError(
            f"{stem} is in {core.inbox.name}/: dropcast publishes it, and tries again by itself"
        )
    if not named:
        raise RetryRefusedError(f"no post named {stem} in the ledger")
    newest = named[0]
    if newest.outcome == "failed" and newest.record_path is not None:
        record = newest.record_path.name
        failed, name = core.failed.name, record.removesuffix(RECORD_SUFFIX)
        raise RetryRefusedError(
            f"{name} is in {failed}/: fix it (see {failed}/{record}) and move it back into "
            f"{core.inbox.name}/; dropcast publishes it then"
        )
    say(f"{stem}: nothing to retry: no archived post by that name needs it")
    return True


def _in_inbox(inbox: Path, stem: str) -> bool:
    """Whether a post named `stem` (its caption or an image) is in the inbox."""
    suffixes = (CAPTION_SUFFIX, *IMAGE_SUFFIXES)
    return any((inbox / f"{stem}{suffix}").is_file() for suffix in suffixes)


def _refusal(rows: list[PostRow], config: ApplicationConfig) -> str:
    who = rows[0].stem if len(rows) == 1 else f"{len(rows)} posts"
    return (
        f"{who}: not retried: {config.path.name} is not valid, and the platforms' settings "
        "are in it; fix it (dropcast check shows what is wrong), then retry again"
    )


async def _retry_one(ledger: AsyncLedger, row: PostRow, lease: Lease, say: Say) -> bool:
    """Say what will be done about each delivery, do it, and say how it went."""
    for name, delivery in ledger.ledger.deliveries(row.id).items():
        if delivery.state in RETRYABLE:
            say(f"{row.stem}: {name}: {retry_intent(delivery, lease.publishers.get(name))}")
    try:
        outcome, states = await resend(ledger, row, lease)
    except (PostRejectedError, OSError) as error:  # this post cannot go; the others still may
        say(f"{row.stem}: not retried: {error}")
        return False
    tried = ", ".join(f"{name}: {state}" for name, state in states.items())
    say(f"{row.stem}: {outcome} ({tried or 'nothing sent: see above'})")
    return outcome == "published"


def retry_intent(delivery: Delivery, publisher: AnyPublisher | None) -> str:
    """What `dropcast retry` will do about one delivery, said before it does it."""
    name = delivery.platform
    if publisher is None:
        return "not enabled in the config: left as it is"
    if delivery.state is DeliveryState.FAILED:
        return "refused last time: sending again what it did not accept"
    policy = publisher.resend_after_unknown
    if policy == "check":
        return f"answer unknown: asking {name} first; sent again only if it does not have it"
    if policy == "safe":
        return "answer unknown: sending again (harmless on this platform)"
    in_doubt = [d.name for d in delivery.destinations if d.in_doubt]
    where = f" to {', '.join(in_doubt)}" if in_doubt else ""
    return f"answer unknown: sending again{where}; what arrived last time will then be there twice"


async def resend(ledger: AsyncLedger, row: PostRow, lease: Lease) -> tuple[Outcome, dict[str, str]]:
    """Send archived post `row` to the platforms that refused it or whose answer is unknown.

    Returns the new outcome and, per platform tried, its new state.
    """
    assert row.filing is not None
    filing = Filing.from_json(row.filing)
    default_warning = lease.config.core.default_content_warning
    if len(filing.moves) != len(row.files):  # some changed while it was published: left behind
        raise PostRejectedError(
            f"{filing.stem}: {len(row.files) - len(filing.moves)} of its files changed while it "
            "was published and stayed in the inbox, so the archive does not hold the post the "
            "other platforms have; drop it again as a new post instead"
        )
    archived = await anyio.to_thread.run_sync(_read_archived, filing, default_warning)
    post = replace(archived, ledger_id=row.id)
    known = await ledger.run(Ledger.deliveries, row.id)
    publishers = _enabled(known, lease)
    timeout = lease.config.core.publish_timeout
    sent, _ = await deliver(ledger, post, known, publishers, timeout, by_owner=True)
    deliveries = await ledger.run(Ledger.deliveries, row.id)
    outcome = Outcome.of(deliveries.values())
    await ledger.run(Ledger.set_outcome, row.id, str(outcome))
    row = await ledger.run(Ledger.post, row.id)
    await anyio.to_thread.run_sync(write_record, filing.record_path, build_record(row, deliveries))
    return outcome, {name: str(deliveries[name].state) for name in sent}


def _enabled(known: Mapping[str, Delivery], lease: Lease) -> dict[str, AnyPublisher]:
    """The publishers of the deliveries to retry; one not enabled is left as it is."""
    wanted = [name for name, delivery in known.items() if delivery.state in RETRYABLE]
    enabled = {name: lease.publishers[name] for name in wanted if name in lease.publishers}
    for name in sorted(set(wanted) - enabled.keys()):
        log.warning("retry.platform_not_enabled", platform=name)
    return enabled


def _read_archived(filing: Filing, default_warning: ContentWarningChoice) -> Post:
    """The archived post, its images in the order they were filed (an album's order)."""
    images = [target for _, target in filing.moves if target.suffix.lower() in IMAGE_SUFFIXES]
    captions = [target for _, target in filing.moves if target.suffix.lower() == CAPTION_SUFFIX]
    if not images or len(captions) != 1:
        raise PostRejectedError(
            f"{filing.stem}: the archived post is not its images and one caption"
        )
    return read_post(filing.stem, images, captions[0], default_warning)
