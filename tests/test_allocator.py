"""glibc's memory pools: at most two, whatever starts the daemon."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

# Eight threads each allocate (blocks too big for Python's own allocator, too small for
# mmap), then glibc's malloc_stats() lists one "Arena N:" line per pool on stderr.
_COUNT_ARENAS = """
import ctypes, sys, threading
from daemon.allocator import limit_arenas
took = limit_arenas() if sys.argv[1] == "limit" else False
barrier = threading.Barrier(8)
def allocate():
    barrier.wait()
    kept = [bytes(4096) for _ in range(64)]
    barrier.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print(took, flush=True)
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str, environ: dict[str, str]) -> tuple[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_ARENAS, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        env=environ,
    )
    arenas = sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))
    return done.stdout.strip(), arenas


@pytest.fixture
def environ() -> dict[str, str]:
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    return {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"}


def test_threads_share_at_most_two_arenas(environ: dict[str, str]) -> None:
    assert _arenas("limit", environ) == ("True", 2)


def test_without_the_cap_each_thread_gets_its_own(environ: dict[str, str]) -> None:
    """What the cap prevents (and proof that the count above can see it)."""
    assert _arenas("none", environ)[1] > 2


def test_an_explicit_malloc_arena_max_is_left_alone(environ: dict[str, str]) -> None:
    assert _arenas("limit", {**environ, "MALLOC_ARENA_MAX": "4"}) == ("False", 4)


def test_an_arena_max_tunable_is_left_alone(environ: dict[str, str]) -> None:
    tunables = {**environ, "GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}
    assert _arenas("limit", tunables) == ("False", 4)
