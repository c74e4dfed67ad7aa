"""Idle footprint: CPU time and resident memory of an idle daemon, against its libraries' floor.

Several daemons idle at once (each on its own folders), half with the preview platform only,
half with every platform (preview, Telegram, e-mail, the gate and Instagram, the last through
a loopback proxy port that refuses). Each first publishes one post, so the platforms'
libraries, imported lazily on first use, are loaded. Their CPU time over the idle window
comes from /proc/<pid>/stat. The floor is a bare Python process that imports the enabled
platforms' libraries and nothing else; dropcast's own share is its RSS above that floor.
A second floor imports dropcast's runtime packages as well (`RUNTIME`), to show how much of
that share is its own code and data.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from bench.configs import PREVIEW_ONLY, Platforms
from bench.plan import Plan
from bench.posts import write_post
from bench.report import Figure
from bench.session import WARM_UP, Session, session
from daemon.publishers.telegram.api import AIOGRAM_MODULES

# What each platform imports on first use (see the publishers' lazy imports).
LIBRARIES = {
    "preview": ("PIL.Image", "PIL.ImageOps"),
    "telegram": AIOGRAM_MODULES,
    "email": ("aiosmtplib",),
    # instagrapi imports curl_cffi (its default transport) when a client is made.
    "instagram": ("instagrapi", "curl_cffi.requests", "PIL.Image"),
}
ALL_LIBRARIES = tuple(sorted({name for names in LIBRARIES.values() for name in names}))
# What dropcast runs on, whichever platforms are enabled: the event loop and the packages it
# is built on (anyio, structlog, watchfiles, PyYAML, SQLite), and pydantic, in which every
# platform's settings, a third party's too, are written.
RUNTIME = (
    "asyncio",
    "anyio",
    "anyio._backends._asyncio",
    "structlog",
    "watchfiles",
    "yaml",
    "sqlite3",
    "pydantic",
    "pydantic.main",
    "pydantic.fields",
)
_REPORT_RSS = """import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmRSS:")))
"""
QUIET_SECONDS = 2.0  # after the warm-up post, before the window opens


def measure(plan: Plan) -> list[Figure]:
    with refusing_port() as proxy:
        everything = Platforms(instagram_proxy=proxy)
        cpu, rss = _idle(plan, {"preview": PREVIEW_ONLY, "all": everything})
    floors = {
        "preview": _floor(LIBRARIES["preview"], plan.floor_runs),
        "all": _floor(ALL_LIBRARIES, plan.floor_runs),
    }
    runtime_floors = {
        config: _floor((*modules, *RUNTIME), plan.floor_runs)
        for config, modules in (("preview", LIBRARIES["preview"]), ("all", ALL_LIBRARIES))
    }
    figures = []
    window = f"{plan.idle_seconds:g} s"
    for config, title in (("preview", "preview only"), ("all", "all platforms")):
        floor = statistics.median(floors[config])
        runtime_floor = statistics.median(runtime_floors[config])
        figures += [
            Figure(f"idle_cpu_{config}", f"Idle CPU over {window}, {title}", "%", cpu[config],
                   limit=0.1, strict=True, details={"window_seconds": plan.idle_seconds}),
            Figure(f"idle_rss_{config}", f"Idle RSS, {title}", "MB", rss[config]),
            Figure(f"floor_rss_{config}", f"Libraries' import floor, {title}", "MB",
                   floors[config]),
            Figure(f"own_rss_{config}", f"dropcast's own RSS above the floor, {title}", "MB",
                   tuple(value - floor for value in rss[config]), limit=15.0),
            Figure(f"runtime_floor_rss_{config}",
                   f"Floor with dropcast's runtime packages as well, {title}", "MB",
                   runtime_floors[config]),
            Figure(f"code_rss_{config}",
                   f"dropcast's own RSS above the floor with its runtime, {title}", "MB",
                   tuple(value - runtime_floor for value in rss[config])),
        ]  # fmt: skip
    return figures


def _idle(
    plan: Plan, configs: dict[str, Platforms]
) -> tuple[dict[str, tuple[float, ...]], dict[str, tuple[float, ...]]]:
    """Per config: the CPU use (% of one core) and the RSS (MB) of each idle daemon."""
    with ExitStack() as stack:
        sessions = {
            name: [stack.enter_context(session(platforms)) for _ in range(plan.idle_daemons)]
            for name, platforms in configs.items()
        }
        _warm_up_all([running for group in sessions.values() for running in group])
        daemons = {name: [running.daemon for running in group] for name, group in sessions.items()}
        time.sleep(QUIET_SECONDS)
        before = {name: [d.cpu_seconds() for d in group] for name, group in daemons.items()}
        time.sleep(plan.idle_seconds)
        cpu = {
            name: tuple(
                (d.cpu_seconds() - start) / plan.idle_seconds * 100
                for d, start in zip(group, before[name], strict=True)
            )
            for name, group in daemons.items()
        }
        rss = {name: tuple(d.rss_mb() for d in group) for name, group in daemons.items()}
    return cpu, rss


def _warm_up_all(sessions: list[Session]) -> None:
    """One post to every daemon at once, then wait for each to file it."""
    for running in sessions:
        write_post(running.inbox, WARM_UP)
    for running in sessions:
        running.wait_filed(WARM_UP)


def _floor(modules: tuple[str, ...], runs: int) -> tuple[float, ...]:
    """The RSS (MB) of a fresh Python process that imports `modules`, once per run."""
    return tuple(_rss_after_import(modules) for _ in range(runs))


def _rss_after_import(modules: tuple[str, ...]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _REPORT_RSS, *modules],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return int(done.stdout.strip()) * 1024 / 1e6


@contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback TCP port held but never listened on: a connection to it is refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]
