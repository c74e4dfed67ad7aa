"""Metrics: `metrics.listen`, what each event counts, and the server beside a running daemon.

Scrapes go through a real HTTP client (urllib) to a real port on 127.0.0.1 and are read
back with prometheus_client's own parser.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from daemon import __version__
from daemon.config import ConfigError, load_config
from daemon.events import InboxWaiting, PostConcluded, WaitingFile
from daemon.metrics.families import DropcastMetrics
from daemon.metrics.settings import MetricsSettings
from daemon.registry import Registry
from tests.conftest import archived, running_daemon, wait_for, write_config, write_post

ROOT = Path(__file__).parent.parent
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def parse(text: str) -> Samples:
    """Every sample in a scrape, keyed by its name and labels, through prometheus_client's parser."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def fetch(port: int) -> str | None:
    """The text at http://127.0.0.1:<port>/metrics, or None if nothing listens there."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            assert answer.headers.get_content_type() == "text/plain"
            text: str = answer.read().decode("utf-8")
            return text
    except ConnectionResetError:  # taken in by a server that stopped before it answered
        return None
    except urllib.error.URLError as error:
        if isinstance(error.reason, ConnectionError):  # refused, or reset likewise
            return None
        raise


async def scrape(
    port: int, until: Callable[[Samples], bool] = bool, within: float = 20.0
) -> Samples:
    """A scrape of the daemon's metrics once its server has started, and `until` holds of it.

    A post's files are in the archive a moment before it is counted: a test waits for both.
    """
    with anyio.fail_after(within):
        while True:
            text = await anyio.to_thread.run_sync(fetch, port)
            if text is not None and until(samples := parse(text)):
                return samples
            await anyio.sleep(0.02)


def published(samples: Samples) -> float:
    return value(samples, "dropcast_posts_total", outcome="published") or 0


async def refused(port: int) -> bool:
    return await anyio.to_thread.run_sync(fetch, port) is None


async def until_refused(port: int, within: float = 20.0) -> None:
    with anyio.fail_after(within):
        while not await refused(port):  # noqa: ASYNC110 - a server in another thread
            await anyio.sleep(0.02)


def listening_ports() -> set[int]:
    """The TCP ports this process listens on (its own sockets in Linux's /proc/net/tcp*)."""
    fds = Path("/proc/self/fd")
    sockets = set()
    for fd in os.listdir(fds):
        try:
            sockets.add(os.readlink(fds / fd))
        except OSError:
            continue  # closed while listed
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and f"socket:[{fields[9]}]" in sockets:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@contextmanager
def port_taken() -> Iterator[int]:
    """A loopback port another program already listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def metrics_config(folder: Path, listen: object, **core: Any) -> Path:
    return write_config(folder, metrics={"listen": listen}, **core)


class TestListenSetting:
    @pytest.mark.parametrize(
        ("written", "address", "loopback"),
        [
            (9464, "127.0.0.1:9464", True),
            ("9464", "127.0.0.1:9464", True),
            ("127.0.0.1:9464", "127.0.0.1:9464", True),
            ("localhost:9100", "localhost:9100", True),
            ("[::1]:9464", "[::1]:9464", True),
            ("0.0.0.0:9464", "0.0.0.0:9464", False),
            ("metrics.lan:9464", "metrics.lan:9464", False),
        ],
    )
    def test_an_address_is_read_as_written(
        self, written: object, address: str, loopback: bool
    ) -> None:
        """A bare port is served on 127.0.0.1; any other host only as written, and flagged if not loopback."""
        listen = MetricsSettings.model_validate({"listen": written}).listen
        assert listen is not None
        assert (str(listen), listen.is_loopback) == (address, loopback)

    @pytest.mark.parametrize("written", [None, False])
    def test_metrics_are_off_unless_listen_is_set(self, written: object) -> None:
        """No `listen`, or `listen: false`, and nothing is served."""
        assert MetricsSettings.model_validate({"listen": written}).listen is None
        assert MetricsSettings().listen is None

    @pytest.mark.parametrize(
        ("written", "shown"),
        [
            ("70000", "'70000'"),
            (0, "'0'"),
            (":9464", "':9464'"),
            ("host:", "'host:'"),
            ("::1:9464", "brackets"),
            (True, "True"),
            ([9464], "[9464]"),
        ],
    )
    def test_a_bad_address_is_an_error_naming_the_key_and_the_value(
        self, tmp_path: Path, registry: Registry, written: object, shown: str
    ) -> None:
        """The config error names metrics.listen, what was written and what is expected."""
        config = metrics_config(tmp_path, written)
        with pytest.raises(ConfigError) as raised:
            load_config(config, registry)
        message = str(raised.value)
        assert "metrics.listen" in message
        assert "host:port (127.0.0.1:9464" in message
        assert shown in message


class TestCounts:
    def test_the_inbox_gauge_counts_posts_and_files_waiting_for_a_partner(self) -> None:
        """dropcast_inbox_waiting is the inbox's posts not yet filed plus its lone files, as last told."""
        metrics = DropcastMetrics()
        alone = WaitingFile("beach.jpg", "no caption beach.txt (beach.jpg.txt is near)", 0.0)
        metrics.observe(InboxWaiting(waiting=[alone, alone], posts=3))
        assert value(self._samples(metrics), "dropcast_inbox_waiting") == 5
        metrics.observe(InboxWaiting(waiting=[], posts=0))
        assert value(self._samples(metrics), "dropcast_inbox_waiting") == 0

    def test_every_outcome_is_shown_at_zero_before_the_first_post(self) -> None:
        """A rate needs its zero: each outcome's series is there from the start."""
        samples = self._samples(DropcastMetrics())
        outcomes = ("published", "partial", "failed", "duplicate", "retrying")
        assert [value(samples, "dropcast_posts_total", outcome=o) for o in outcomes] == [0] * 5
        assert value(samples, "dropcast_build_info", version=__version__) == 1

    def test_a_post_name_never_becomes_a_label(self) -> None:
        """Only the outcome is a label: the post's name (which may say anything) is not."""
        metrics = DropcastMetrics()
        metrics.observe(PostConcluded("secret-plans", "published"))
        assert "secret-plans" not in self._text(metrics)
        assert value(self._samples(metrics), "dropcast_posts_total", outcome="published") == 1

    @staticmethod
    def _text(metrics: DropcastMetrics) -> str:
        from prometheus_client import generate_latest

        return generate_latest(metrics.registry).decode("utf-8")

    def _samples(self, metrics: DropcastMetrics) -> Samples:
        return parse(self._text(metrics))


class TestOff:
    async def test_a_daemon_without_metrics_listens_on_no_port(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """Off by default: a daemon publishing a post opens no listening socket."""
        before = listening_ports()
        with capture_logs() as logs:
            async with running_daemon(write_config(tmp_path), registry):
                write_post(tmp_path / "inbox", "quiet")
                await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
                during = listening_ports()
        assert during == before
        assert not [e for e in logs if e["event"].startswith("metrics.")]

    def test_a_daemon_without_metrics_never_imports_prometheus_client(self, tmp_path: Path) -> None:
        """A daemon without metrics pays nothing: prometheus_client is not even imported."""
        config = write_config(tmp_path)
        program = (
            "import sys\n"
            "from pathlib import Path\n"
            "from daemon.registry import Registry\n"
            "from daemon.service import Daemon\n"
            "from daemon.events import InboxWaiting\n"
            "registry = Registry.discover(packages=('daemon.publishers', 'tests.fakes.publishers'),"
            " entry_point_group=None)\n"
            f"daemon = Daemon(Path({str(config)!r}), registry)\n"
            "daemon.observers.notify(InboxWaiting(posts=1))\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('prometheus'))))\n"
        )
        found = subprocess.run(
            [sys.executable, "-c", "import json\n" + program],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(found.stdout) == []


class TestServer:
    async def test_a_taken_port_is_one_error_line_and_publishing_goes_on(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """Another program on the port: metrics.listen_failed names host:port; the post is still published."""
        with port_taken() as port, capture_logs() as logs:
            async with running_daemon(metrics_config(tmp_path, port), registry):
                write_post(tmp_path / "inbox", "regardless")
                await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
        failed = [e for e in logs if e["event"] == "metrics.listen_failed"]
        assert len(failed) == 1
        assert failed[0]["log_level"] == "error"
        assert failed[0]["address"] == f"127.0.0.1:{port}"
        assert "in use" in failed[0]["error"]

    async def test_a_host_not_on_loopback_is_warned_about(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """A host written out that is not loopback is served (here it cannot be: not ours), with a warning."""
        address = f"192.0.2.1:{free_port()}"  # TEST-NET-1: no machine has it, nothing is exposed
        with capture_logs() as logs:
            async with running_daemon(metrics_config(tmp_path, address), registry):
                await wait_for(
                    lambda: any(e["event"] == "metrics.listen_failed" for e in logs),
                    what="the failed bind",
                )
        warned = [e for e in logs if e["event"] == "metrics.not_loopback"]
        assert [(e["log_level"], e["address"]) for e in warned] == [("warning", address)]

    async def test_a_loopback_address_is_served_without_a_warning(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """A bare port is served on 127.0.0.1 and nothing is warned about."""
        port = free_port()
        with capture_logs() as logs:
            async with running_daemon(metrics_config(tmp_path, port), registry):
                samples = await scrape(port)
        assert value(samples, "dropcast_build_info", version=__version__) == 1
        assert [e["event"] for e in logs if e["event"].startswith("metrics.")] == [
            "metrics.listening",
            "metrics.stopped",
        ]

    async def test_a_stopped_daemon_frees_its_port_for_the_next(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """Two daemons one after the other on one port in one process: each serves its own counts."""
        port = free_port()
        first, second = tmp_path / "first", tmp_path / "second"
        for folder in (first, second):
            folder.mkdir()
        async with running_daemon(metrics_config(first, port), registry):
            write_post(first / "inbox", "early")
            await wait_for(lambda: len(archived(first)) == 3, what="the first daemon's post")
            assert published(await scrape(port, until=lambda s: published(s) >= 1)) == 1
        assert await refused(port)
        async with running_daemon(metrics_config(second, port), registry):
            samples = await scrape(port)
        assert published(samples) == 0

    async def test_two_daemons_in_one_process_count_their_own_posts(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """Each daemon has a registry of its own: two at once never mix their counts."""
        ports = free_port(), free_port()
        folders = tmp_path / "one", tmp_path / "two"
        for folder in folders:
            folder.mkdir()
        async with (
            running_daemon(metrics_config(folders[0], ports[0]), registry),
            running_daemon(metrics_config(folders[1], ports[1]), registry),
        ):
            for n in range(2):
                write_post(folders[0] / "inbox", f"one-{n}")
            write_post(folders[1] / "inbox", "two-0", "Different words")
            await wait_for(lambda: len(archived(folders[0])) == 6, what="the first daemon's posts")
            await wait_for(lambda: len(archived(folders[1])) == 3, what="the second daemon's post")
            counts = [
                published(await scrape(ports[0], until=lambda s: published(s) >= 2)),
                published(await scrape(ports[1], until=lambda s: published(s) >= 1)),
            ]
        assert counts == [2, 1]


class TestReload:
    async def test_a_reload_moves_the_server_and_keeps_the_counts(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """A new metrics.listen is served at once, the old port freed, and what was counted kept."""
        old, new = free_port(), free_port()
        with capture_logs() as logs:
            async with running_daemon(metrics_config(tmp_path, old), registry):
                write_post(tmp_path / "inbox", "before")
                await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
                assert published(await scrape(old, until=lambda s: published(s) >= 1)) == 1
                metrics_config(tmp_path, f"127.0.0.1:{new}")
                samples = await scrape(new)
                assert await refused(old)
        assert published(samples) == 1
        listening = [e["address"] for e in logs if e["event"] == "metrics.listening"]
        assert listening == [f"127.0.0.1:{old}", f"127.0.0.1:{new}"]

    async def test_a_reload_without_listen_stops_the_server(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """Taking metrics out of the config stops serving them, without a restart."""
        port = free_port()
        async with running_daemon(metrics_config(tmp_path, port), registry):
            await scrape(port)
            write_config(tmp_path)
            await until_refused(port)

    async def test_a_reload_tries_a_taken_port_again(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """The port was taken at start; once it is free, the next reload (SIGHUP) serves on it."""
        other = socket.socket()
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with other, capture_logs() as logs:
            async with running_daemon(metrics_config(tmp_path, port), registry) as daemon:
                await wait_for(
                    lambda: any(e["event"] == "metrics.listen_failed" for e in logs),
                    what="the failed bind",
                )
                other.close()
                await daemon.reload()
                samples = await scrape(port)
        assert value(samples, "dropcast_build_info", version=__version__) == 1
