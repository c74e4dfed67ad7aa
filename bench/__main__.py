"""dropcast's benchmarks: `.venv/bin/python -m bench [--quick] [--only FIGURE ...]`.

Runs the real daemon as a separate process against local fakes (127.0.0.1 only), prints
one table (median, min and max over several runs; the target and whether the median meets
it) and writes every run's values to bench/results/<date>-<time>.json. Nothing is asserted:
the machine may be shared and noisy, so read the spread along with the median.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from bench import burst, fanout, footprint, latency, memory, startup
from bench.configs import MAX_CONCURRENT_POSTS, SETTLE_SECONDS
from bench.plan import Plan
from bench.report import Figure, machine, table, write_json

Measure = Callable[[Plan], list[Figure]]
SUITE: dict[str, Measure] = {
    "fanout": fanout.measure,
    "latency": latency.measure,
    "burst": burst.measure,
    "idle": footprint.measure,
    "memory": memory.measure,
    "startup": startup.measure,
}


def main(arguments: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(arguments)
    plan = Plan.smoke() if options.quick else Plan.full()
    figures: list[Figure] = []
    for name in options.only or list(SUITE):
        began = time.monotonic()
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        figures += SUITE[name](plan)
        print(f"  {name}: {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    settings = {
        **plan.as_json(),
        "settle_seconds": SETTLE_SECONDS,
        "max_concurrent_posts": MAX_CONCURRENT_POSTS,
    }
    path = write_json(figures, settings)
    cores = machine()["cores"]
    print(f"\ndropcast benchmarks, {time.strftime('%Y-%m-%d')}, {cores} cores\n")
    print(table(figures))
    print(f"\nevery run's values: {path}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="fewer runs and posts, a 10 s idle window (~2 min)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=list(SUITE), metavar="FIGURE", help=", ".join(SUITE)
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
