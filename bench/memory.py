"""Memory growth: the daemon's resident memory after a few hundred posts and after thousands.

Posts arrive in batches copied into the inbox at once; the memory is read a second after the
inbox is empty again. A leak per post shows as growth between the two readings.
"""

from __future__ import annotations

import time

from bench.configs import Platforms
from bench.plan import Plan
from bench.posts import INBOX_POLL_SECONDS, copy_in, posts_left, stage, wait_until
from bench.report import Figure
from bench.session import Session, session

SETTLED_SECONDS = 1.0  # after the last post, before reading the memory
BATCH_WITHIN = 900.0


def measure(plan: Plan) -> list[Figure]:
    readings = [_one_run(plan, f"mem{run}") for run in range(plan.memory_runs)]
    first, last = plan.memory_posts
    return [
        Figure("rss_after_first", f"RSS after {first} posts", "MB", tuple(a for a, _ in readings)),
        Figure("rss_after_last", f"RSS after {last} posts", "MB", tuple(b for _, b in readings)),
        Figure(
            "rss_growth",
            f"RSS growth from {first} to {last} posts",
            "MB",
            tuple(b - a for a, b in readings),
            limit=5.0,
        ),
    ]


def _one_run(plan: Plan, prefix: str) -> tuple[float, float]:
    first, last = plan.memory_posts
    stems = [f"{prefix}-{number:05d}" for number in range(last)]
    delay = plan.fake_delay
    with session(Platforms(gate_delay=delay), delay, delay) as running:
        stage(running.folder / "staged", stems)
        _publish(running, stems[:first])
        after_first = running.daemon.rss_mb()
        for start in range(first, last, first):
            _publish(running, stems[start : start + first])
        return after_first, running.daemon.rss_mb()


def _publish(running: Session, stems: list[str]) -> None:
    """Copy a batch into the inbox, wait until it is all filed, then let the daemon settle."""
    copy_in(running.folder / "staged", running.inbox, stems)
    wait_until(
        lambda: posts_left(running.inbox) == 0,
        "a batch to be filed",
        BATCH_WITHIN,
        INBOX_POLL_SECONDS,
    )
    running.daemon.check_alive()
    time.sleep(SETTLED_SECONDS)
