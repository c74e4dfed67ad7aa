"""Detection latency: how soon after a post is complete the first platform hears of it.

Posts are dropped one by one. For a written post the latency is the time from its last
byte written to the first request a fake receives (an HTTP request to the Bot API, or a
MAIL command to the SMTP server), minus `settle_seconds`; a post renamed into place
(`x.jpg.part` → `x.jpg`) needs no settling, so its latency is the whole time.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

from bench.configs import SETTLE_SECONDS, Platforms
from bench.plan import Plan
from bench.posts import pause, rename_post, wait_until, write_post
from bench.report import Figure
from bench.session import Session, session
from bench.stats import p95

Drop = Callable[[Path, str], float]  # drops a post; returns when it was complete


def measure(plan: Plan) -> list[Figure]:
    written: list[list[float]] = []
    renamed: list[list[float]] = []
    delay = plan.fake_delay
    for run in range(plan.latency_runs):
        with session(Platforms(gate_delay=delay), delay, delay) as running:
            running.warm_up()
            written.append(_latencies(running, plan, write_post, f"w{run}", SETTLE_SECONDS))
            renamed.append(_latencies(running, plan, rename_post, f"r{run}", 0.0))
    return [
        _figure("latency_median", "Detection latency after settle, median", written, median=True),
        _figure("latency_p95", "Detection latency after settle, p95", written, limit=0.3),
        _figure("rename_median", "Detection latency of a renamed post, median", renamed, True),
        _figure("rename_p95", "Detection latency of a renamed post, p95", renamed, limit=0.3),
    ]


def _latencies(running: Session, plan: Plan, drop: Drop, prefix: str, settle: float) -> list[float]:
    found = []
    for number in range(plan.latency_posts):
        stem = f"{prefix}-{number}"
        pause()
        complete = drop(running.inbox, stem)
        found.append(_first_contact(running, complete, stem) - complete - settle)
        running.wait_filed(stem)
    return found


def _first_contact(running: Session, complete: float, stem: str) -> float:
    wait_until(lambda: running.fakes.first_contact_after(complete), f"{stem} to reach a fake", 60)
    first = running.fakes.first_contact_after(complete)
    assert first is not None
    return first


def _figure(
    key: str, label: str, runs: list[list[float]], median: bool = False, limit: float | None = None
) -> Figure:
    summarize = statistics.median if median else p95
    values = tuple(summarize(latencies) for latencies in runs)
    details = {"latencies": runs}
    return Figure(key, label, "s", values, limit=limit, details=details)
