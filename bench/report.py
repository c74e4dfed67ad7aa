"""The results: one table on the terminal (Markdown, so the README can take it as is) and JSON."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import Spread

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Figure:
    """One measured quantity: a value per run, and the most it may be (if it has a target)."""

    key: str
    label: str
    unit: str
    values: tuple[float, ...]
    limit: float | None = None  # the target: at most this much
    strict: bool = False  # the target: less than `limit`
    target: str = ""  # the target as the table shows it; the limit's value if empty
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def spread(self) -> Spread:
        return Spread.of(self.values)

    @property
    def met(self) -> bool | None:
        if self.limit is None:
            return None
        median = self.spread.median
        return median < self.limit if self.strict else median <= self.limit

    def target_text(self) -> str:
        if self.target or self.limit is None:
            return self.target
        return f"{'<' if self.strict else '≤'} {_number(self.limit)}{_space(self.unit)}"


def table(figures: Sequence[Figure]) -> str:
    """The figures as a Markdown table: median, min and max over the runs, target, verdict."""
    lines = [
        "| figure | median | min | max | runs | target | met |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for figure in figures:
        spread = figure.spread
        unit = _space(figure.unit)
        cells = [
            figure.label,
            f"{_number(spread.median)}{unit}",
            _number(spread.low),
            _number(spread.high),
            str(spread.runs),
            figure.target_text(),
            {True: "yes", False: "**no**", None: ""}[figure.met],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(figures: Sequence[Figure], settings: dict[str, Any]) -> Path:
    """Write every run's values and the summaries to `bench/results/<date>-<time>.json`."""
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{stamp}{'-quick' if settings.get('quick') else ''}.json"
    document = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "settings": settings,
        "figures": {figure.key: _as_json(figure) for figure in figures},
    }
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average": os.getloadavg(),
    }


def _as_json(figure: Figure) -> dict[str, Any]:
    spread = figure.spread
    return {
        "label": figure.label,
        "unit": figure.unit,
        "median": spread.median,
        "min": spread.low,
        "max": spread.high,
        "values": list(figure.values),
        "target": figure.target_text() or None,
        "met": figure.met,
        **figure.details,
    }


def _number(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _space(unit: str) -> str:
    return f" {unit}" if unit and unit != "%" else unit
