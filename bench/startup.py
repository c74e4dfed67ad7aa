"""Start-up: from starting `python -m daemon ... run` to READY=1 on the notify socket.

Each config is started once unmeasured (it creates the ledger and warms the disk cache),
then started and stopped `runs` times on the same folders: a restart, as under systemd.
"""

from __future__ import annotations

from bench.configs import PREVIEW_ONLY, Platforms, daemon_config
from bench.fakes import Fakes
from bench.footprint import refusing_port
from bench.plan import Plan
from bench.process import DaemonProcess
from bench.report import Figure
from bench.session import bench_folder


def measure(plan: Plan) -> list[Figure]:
    with refusing_port() as proxy:
        everything = Platforms(instagram_proxy=proxy)
        preview = _startups(PREVIEW_ONLY, plan.runs)
        every = _startups(everything, plan.runs)
    return [
        Figure("startup_preview", "Start-up to READY=1, preview only", "s", preview),
        Figure("startup_all", "Start-up to READY=1, all platforms", "s", every),
    ]


def _startups(platforms: Platforms, runs: int) -> tuple[float, ...]:
    with bench_folder() as folder, Fakes(0.0, 0.0) as fakes:
        (folder / "signals").mkdir()
        daemon = DaemonProcess(folder, daemon_config(platforms, fakes))
        with daemon:  # the unmeasured first start
            pass
        times = []
        for _ in range(runs):
            with daemon:
                times.append(daemon.startup_seconds)
    return tuple(times)
