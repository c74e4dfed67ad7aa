"""One benchmark session: fresh folders, the fakes, and dropcast running on them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.configs import Platforms, daemon_config
from bench.fakes import Fakes
from bench.posts import wait_gone, write_post
from bench.process import DaemonProcess

FILED_WITHIN = 120.0  # seconds: the first post imports the platforms' libraries
WARM_UP = "warm-up"


@dataclass(frozen=True)
class Session:
    folder: Path
    daemon: DaemonProcess
    fakes: Fakes

    @property
    def inbox(self) -> Path:
        return self.daemon.inbox

    def publish(self, stem: str) -> None:
        """Drop one post and wait until it is filed."""
        write_post(self.inbox, stem)
        self.wait_filed(stem)

    def wait_filed(self, stem: str) -> None:
        wait_gone(self.inbox / f"{stem}.txt", FILED_WITHIN)

    def warm_up(self) -> None:
        """Publish one post, so that every platform has imported its library (lazily, on
        first use) before anything is measured."""
        self.publish(WARM_UP)

    def received_by_gate(self) -> list[str]:
        path = self.folder / "signals" / "gate.received"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@contextmanager
def bench_folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="dropcast-bench-") as folder:
        yield Path(folder)


@contextmanager
def session(
    platforms: Platforms, telegram_delay: float = 0.0, email_delay: float = 0.0
) -> Iterator[Session]:
    """dropcast with `platforms`, the fakes answering after their delays, until the block ends."""
    with bench_folder() as folder, Fakes(telegram_delay, email_delay) as fakes:
        (folder / "signals").mkdir()
        with DaemonProcess(folder, daemon_config(platforms, fakes)) as daemon:
            yield Session(folder, daemon, fakes)
