"""Fan-out benchmark: one post to three platforms of 0.3 s, 0.6 s and 0.9 s through the real daemon.

Prints, per run and as median and spread, (time from the caption's last write to the archive
move - settle_seconds) / 0.9 s. Concurrent publishing gives about 1.0; sequential, 2.0.
Run from the repository root: `.venv/bin/python bench/fanout.py [--runs N]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.logging import configure_logging
from daemon.publishers.base import Registry
from tests.conftest import make_image, running_daemon, write_config

DELAYS = {"recording": 0.3, "recording2": 0.6, "recording3": 0.9}
SETTLE_SECONDS = 0.5


async def one_run(folder: Path, registry: Registry) -> float:
    """Publish one post; return the fan-out ratio."""
    platforms = {
        name: {"enabled": True, "label": name, "delay": delay} for name, delay in DELAYS.items()
    }
    config = write_config(folder, platforms, settle_seconds=SETTLE_SECONDS)
    async with running_daemon(config, registry):
        make_image(folder / "inbox" / "bench.jpg", (1200, 800))
        (folder / "inbox" / "bench.txt").write_text("A benchmark caption", encoding="utf-8")
        written = time.perf_counter()
        record = folder / "archive"
        while not any(record.glob("*/bench.result.json")):  # noqa: ASYNC110 - watching the disk
            await anyio.sleep(0.002)
        archived = time.perf_counter()
    return (archived - written - SETTLE_SECONDS) / max(DELAYS.values())


async def main(runs: int) -> None:
    configure_logging("warning", "console")
    registry = Registry.discover(
        packages=("daemon.publishers", "tests.fakes.publishers"), entry_point_group=None
    )
    ratios = []
    for number in range(runs):
        with tempfile.TemporaryDirectory(prefix="dropcast-bench-") as folder:
            ratio = await one_run(Path(folder), registry)
        ratios.append(ratio)
        print(f"run {number + 1}: fan-out ratio {ratio:.3f}")
    spread = max(ratios) - min(ratios)
    print(
        f"fan-out ratio over {runs} runs: median {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}, spread {spread:.3f}); "
        "target <= 1.1, sequential would be 2.0"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7)
    anyio.run(main, parser.parse_args().runs)
