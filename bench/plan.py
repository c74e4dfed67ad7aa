"""How much to measure: the full suite, or a quick smoke run of every figure."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Plan:
    quick: bool
    runs: int  # fan-out and start-up runs
    latency_runs: int
    latency_posts: int  # posts dropped one by one, per run
    burst_runs: int
    burst_posts: int
    memory_runs: int
    memory_posts: tuple[int, int]  # RSS is read after this many posts, then after that many
    idle_daemons: int  # idle daemons measured at once, per config
    idle_seconds: float
    floor_runs: int  # fresh processes that import the platforms' libraries, per config
    fake_delay: float = 0.02  # seconds each fake takes in the burst, latency and memory runs

    @classmethod
    def full(cls) -> Plan:
        return cls(
            quick=False,
            runs=7,
            latency_runs=3,
            latency_posts=20,
            burst_runs=3,
            burst_posts=1000,
            memory_runs=2,
            memory_posts=(200, 2000),
            idle_daemons=3,
            idle_seconds=60.0,
            floor_runs=5,
        )

    @classmethod
    def smoke(cls) -> Plan:
        return cls(
            quick=True,
            runs=3,
            latency_runs=1,
            latency_posts=10,
            burst_runs=1,
            burst_posts=100,
            memory_runs=1,
            memory_posts=(50, 250),
            idle_daemons=1,
            idle_seconds=10.0,
            floor_runs=3,
        )

    def as_json(self) -> dict[str, Any]:
        return asdict(self)
