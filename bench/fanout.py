"""Fan-out: one post to three platforms that take 0.3 s, 0.6 s and 0.9 s.

The fake Bot API answers after 0.3 s, the SMTP server after 0.6 s, and the gate platform
(registered through an entry point) after 0.9 s. The figure is (time from the caption's
last write to the caption's move into the archive - settle_seconds) / 0.9 s: concurrent
publishing gives about 1.0, sequential 2.0.
"""

from __future__ import annotations

from bench.configs import SETTLE_SECONDS, Platforms
from bench.plan import Plan
from bench.posts import pause, wait_gone, write_post
from bench.report import Figure
from bench.session import FILED_WITHIN, Session, session

TELEGRAM, EMAIL, GATE = 0.3, 0.6, 0.9
SLOWEST = max(TELEGRAM, EMAIL, GATE)


def measure(plan: Plan) -> list[Figure]:
    platforms = Platforms(preview=False, gate_delay=GATE)
    with session(platforms, telegram_delay=TELEGRAM, email_delay=EMAIL) as running:
        running.warm_up()
        ratios = tuple(_one_post(running, f"fanout-{number}") for number in range(plan.runs))
    return [
        Figure(
            "fanout_ratio",
            "Fan-out ratio, platforms of 0.3/0.6/0.9 s (sequential: 2.0)",
            "",
            ratios,
            limit=1.1,
        )
    ]


def _one_post(running: Session, stem: str) -> float:
    pause()
    written = write_post(running.inbox, stem)
    filed = wait_gone(running.inbox / f"{stem}.txt", FILED_WITHIN)
    return (filed - written - SETTLE_SECONDS) / SLOWEST
