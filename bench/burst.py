"""Burst: many posts copied into the inbox at once, every fake taking `fake_delay` per post.

Counts what each platform received (each post exactly once, none lost) and times the whole
burst, from the first file copied to the last post filed. The engine's overhead per post is
what that time holds beyond settling once and the fakes' delays at `max_concurrent_posts`
posts at a time: (total - settle_seconds - ceil(posts / max_concurrent_posts) * delay) / posts.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.configs import MAX_CONCURRENT_POSTS, SETTLE_SECONDS, Platforms
from bench.plan import Plan
from bench.posts import INBOX_POLL_SECONDS, caption, copy_in, posts_left, stage, wait_until
from bench.report import Figure
from bench.session import Session, session

BURST_WITHIN = 900.0  # seconds


@dataclass(frozen=True)
class Burst:
    posts: int
    seconds: float
    copy_seconds: float
    missing: int  # deliveries that never came, and posts not filed as published
    repeated: int  # deliveries beyond the first of a post to a platform
    daemon_cpu: float  # seconds of CPU the daemon used during the burst
    fakes_cpu: float  # seconds of CPU this process (the fakes, and the watch for the end) used

    def overhead_ms(self, delay: float) -> float:
        batches = math.ceil(self.posts / MAX_CONCURRENT_POSTS)
        explained = SETTLE_SECONDS + batches * delay
        return (self.seconds - explained) / self.posts * 1000


def measure(plan: Plan) -> list[Figure]:
    bursts = [_one_burst(plan, f"burst{run}") for run in range(plan.burst_runs)]
    count = plan.burst_posts
    return [
        Figure("burst_seconds", f"Burst of {count} posts, total", "s", _each(bursts, "seconds")),
        Figure("burst_rate", f"Burst of {count} posts, throughput", "posts/s",
               tuple(b.posts / b.seconds for b in bursts)),
        Figure("burst_overhead", f"Burst of {count} posts, engine overhead per post", "ms",
               tuple(b.overhead_ms(plan.fake_delay) for b in bursts), limit=5.0),
        Figure("burst_missing", "Burst: deliveries missing or posts not published", "",
               _each(bursts, "missing"), limit=0, target="0"),
        Figure("burst_repeated", "Burst: deliveries repeated", "",
               _each(bursts, "repeated"), limit=0, target="0"),
        Figure("burst_daemon_cpu", "Burst: the daemon's CPU time per post", "ms",
               tuple(b.daemon_cpu / b.posts * 1000 for b in bursts)),
        Figure("burst_fakes_cpu", "Burst: the fakes' CPU time per post", "ms",
               tuple(b.fakes_cpu / b.posts * 1000 for b in bursts)),
    ]  # fmt: skip


def _each(bursts: list[Burst], name: str) -> tuple[float, ...]:
    return tuple(float(getattr(burst, name)) for burst in bursts)


def _one_burst(plan: Plan, prefix: str) -> Burst:
    delay = plan.fake_delay
    stems = [f"{prefix}-{number:04d}" for number in range(plan.burst_posts)]
    with session(Platforms(gate_delay=delay), delay, delay) as running:
        running.warm_up()
        stage(running.folder / "staged", stems)
        daemon_cpu, fakes_cpu = running.daemon.cpu_seconds(), time.process_time()
        started = time.monotonic()
        copy_in(running.folder / "staged", running.inbox, stems)
        copied = time.monotonic()
        done = wait_until(
            lambda: posts_left(running.inbox) == 0, "the burst", BURST_WITHIN, INBOX_POLL_SECONDS
        )
        daemon_cpu = running.daemon.cpu_seconds() - daemon_cpu
        fakes_cpu = time.process_time() - fakes_cpu
        missing, repeated = _check(running, stems)
    return Burst(
        len(stems), done - started, copied - started, missing, repeated, daemon_cpu, fakes_cpu
    )


def _check(running: Session, stems: list[str]) -> tuple[int, int]:
    """Deliveries missing (per platform, and posts not published), and deliveries repeated."""
    wanted = set(stems)
    by_caption = {caption(stem): stem for stem in stems}
    received = {
        "telegram": [by_caption.get(text, "") for text in running.fakes.telegram_captions()],
        "email": running.fakes.email_subjects(),
        "gate": running.received_by_gate(),
        "preview": _published(running.folder / "archive", "preview"),
    }
    missing = len(wanted - set(_published(running.folder / "archive")))
    repeated = 0
    for names in received.values():
        counts = Counter(name for name in names if name in wanted)
        missing += len(stems) - len(counts)
        repeated += sum(count - 1 for count in counts.values())
    return missing, repeated


def _published(archive: Path, platform: str | None = None) -> Iterable[str]:
    """The posts whose record says published (and, given `platform`, sent there)."""
    for path in archive.glob("*/*.result.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["outcome"] != "published":
            continue
        if platform is None or record["platforms"][platform]["ok"]:
            yield record["post"]
