"""Issue 17's acceptance for metrics: a scrape of a running dropcast counts what happened.

dropcast runs as its own process (the harness of `tests/test_crash.py`) with the preview
platform and a gate platform that refuses everything; the test scrapes it over HTTP as
Prometheus would and checks the counts against what it dropped and what the ledger says.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from daemon import __version__
from tests.test_crash import Dropcast, drop, killed_after, wait_until
from tests.test_metrics import Samples, fetch, free_port, parse, value

OUTCOMES = ("published", "partial", "failed", "duplicate", "retrying")
PLATFORMS = ("preview", "gate")


@pytest.fixture
def dropcast(tmp_path: Path) -> Iterator[Dropcast]:
    yield from killed_after(tmp_path)


def drop_for(runner: Dropcast, stem: str, platforms: str) -> None:
    """A post whose front matter sends it to `platforms` only."""
    drop(runner.inbox, stem)
    caption = runner.inbox / f"{stem}.txt"
    caption.write_text(f"---\nplatforms: [{platforms}]\n---\ncaption of {stem}", encoding="utf-8")


def ended(samples: Samples) -> float:
    """Posts counted as ended: filed, or waiting to retry."""
    return sum(value(samples, "dropcast_posts_total", outcome=o) or 0 for o in OUTCOMES)


def scrape_when(port: int, condition: Callable[[Samples], bool], what: str) -> tuple[str, Samples]:
    """The metrics text, once `condition` holds of it."""
    found: list[str] = []

    def holds() -> bool:
        text = fetch(port)
        found[:] = [] if text is None else [text]
        return text is not None and condition(parse(text))

    wait_until(holds, f"{what} on port {port}")
    return found[0], parse(found[0])


def run_every_outcome(dropcast: Dropcast, port: int) -> tuple[str, Samples]:
    """Posts that end in every way, and a lone image; the scrape once all of it is counted."""
    platforms = {
        "preview": {"enabled": True, "folder": str(dropcast.folder / "preview")},
        "gate": {"enabled": True, "folder": str(dropcast.signals), "fail": True},
    }
    dropcast.write_config(
        platforms, metrics={"listen": port}, max_attempts=2, orphan_warning_seconds=0.2
    )
    dropcast.start()
    for stem in ("one", "two"):
        drop(dropcast.inbox, stem)  # preview takes it, gate refuses: partial
    drop_for(dropcast, "solo", "preview")  # published
    drop_for(dropcast, "lonely", "gate")  # refused, retried once, refused: failed
    Image.new("RGB", (8, 8)).save(dropcast.inbox / "alone.jpg")  # no caption: it waits
    scrape_when(port, lambda samples: ended(samples) >= 5, "5 posts counted")
    for name in ("solo.jpg", "solo.txt"):  # the same image and caption again: a duplicate
        archived = next(dropcast.folder.glob(f"archive/*/{name}"))
        shutil.copy(archived, dropcast.inbox / name.replace("solo", "again"))
    return scrape_when(
        port,
        lambda samples: ended(samples) >= 6 and value(samples, "dropcast_inbox_waiting") == 1,
        "6 posts counted and only the lone image waiting",
    )


def test_a_scrape_of_a_running_daemon_counts_what_happened(dropcast: Dropcast) -> None:
    """Published, partial, failed after a retry, a duplicate: the scrape counts each as the ledger does."""
    port, started = free_port(), time.time()
    _, samples = run_every_outcome(dropcast, port)
    dropcast.stop()
    assert fetch(port) is None  # stopped with the daemon

    posts = {o: value(samples, "dropcast_posts_total", outcome=o) for o in OUTCOMES}
    assert posts == {"published": 1, "partial": 2, "failed": 1, "duplicate": 1, "retrying": 1}
    ledger = dict(dropcast.ledger("SELECT outcome, count(*) FROM posts GROUP BY outcome"))
    assert ledger == {o: n for o, n in posts.items() if o != "retrying"}
    [(retries,)] = dropcast.ledger("SELECT sum(attempts) - count(*) FROM posts WHERE attempts > 0")
    assert posts["retrying"] == retries == 1

    assert answers(samples, "dropcast_deliveries_total") == {
        ("preview", "sent"): 3,  # one, two, solo
        ("preview", "failed"): 0,
        ("preview", "unknown"): 0,
        ("gate", "sent"): 0,
        ("gate", "failed"): 4,  # one, two, and lonely twice
        ("gate", "unknown"): 0,
    }
    sent = "SELECT platform, count(*) FROM deliveries WHERE state = 'sent' GROUP BY platform"
    assert dict(dropcast.ledger(sent)) == {"preview": 3}

    durations = "dropcast_publish_duration_seconds_count"
    assert {p: value(samples, durations, platform=p) for p in PLATFORMS} == {
        "preview": 3,
        "gate": 4,
    }
    last_success = "dropcast_last_success_timestamp_seconds"
    assert started <= (value(samples, last_success, platform="preview") or 0) <= time.time()
    assert value(samples, last_success, platform="gate") is None  # it never took one
    assert value(samples, "dropcast_build_info", version=__version__) == 1


def test_labels_hold_platform_names_and_states_only(dropcast: Dropcast) -> None:
    """No post's name, caption or setting is ever a label: only outcomes, platforms, states, the version."""
    text, samples = run_every_outcome(dropcast, free_port())
    dropcast.stop()
    labels: dict[str, set[str]] = {}
    for _, pairs in samples:
        for key, label in pairs:
            labels.setdefault(key, set()).add(label)
    assert labels.pop("le")  # the histogram's buckets
    assert labels == {
        "outcome": set(OUTCOMES),
        "platform": set(PLATFORMS),
        "state": {"sent", "failed", "unknown"},
        "version": {__version__},
    }
    assert "caption of" not in text


def answers(samples: Samples, name: str) -> dict[tuple[str, str], float | None]:
    return {
        (platform, state): value(samples, name, platform=platform, state=state)
        for platform in PLATFORMS
        for state in ("sent", "failed", "unknown")
    }
