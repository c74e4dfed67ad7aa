"""The status page's service: when the page is written, that a burst costs a few pages, that
a failure is logged and survived, that a reload's settings apply; and the real daemon's page."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.lowlevel
from structlog.testing import capture_logs

from daemon.config import ApplicationConfig, load_config
from daemon.events import DeliveryFinished, InboxWaiting, PostConcluded, WaitingFile
from daemon.ledger import DeliveryState
from daemon.page.service import PageService, write_page
from daemon.publisher import PublishResult
from daemon.registry import Registry
from tests.conftest import archived, make_image, running_daemon, wait_for, write_config, write_post
from tests.test_page import build_every_state, page_config


def page_of(config: ApplicationConfig) -> Path:
    return config.core.page.folder / "index.html"


def waiting(name: str) -> InboxWaiting:
    return InboxWaiting(waiting=(WaitingFile(name, f"{name} waits for its caption", 0.0),), posts=0)


def delivered(stem: str) -> DeliveryFinished:
    return DeliveryFinished(stem, "telegram", DeliveryState.SENT, PublishResult(ok=True))


@asynccontextmanager
async def running(service: PageService) -> AsyncIterator[PageService]:
    """The service in the background, as the daemon runs it, cancelled at the end."""
    async with anyio.create_task_group() as group:
        group.start_soon(service.run)
        try:
            yield service
        finally:
            group.cancel_scope.cancel()


class TestWhen:
    async def test_the_page_is_written_at_start(self, tmp_path: Path, registry: Registry) -> None:
        """Before anything happens, the page is there."""
        config = page_config(tmp_path, registry)
        async with running(PageService(config)) as service:
            await wait_for(lambda: service.writes == 1, what="the first page")
        assert "No posts yet" in page_of(config).read_text(encoding="utf-8")

    async def test_an_event_writes_the_page_again(self, tmp_path: Path, registry: Registry) -> None:
        """What the inbox says is on the page after the event that says it."""
        config = page_config(tmp_path, registry)
        async with running(PageService(config, min_interval=0.05)) as service:
            await wait_for(lambda: service.writes == 1, what="the first page")
            service.notify(waiting("nocaption.jpg"))
            await wait_for(lambda: service.writes == 2, what="the second page")
            assert "nocaption.jpg waits" in page_of(config).read_text(encoding="utf-8")

    async def test_a_burst_of_200_posts_writes_a_handful_of_pages(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """200 posts' events, one every 5 ms or so: a page a second, not one a post."""
        config = page_config(tmp_path, registry)
        async with running(PageService(config, min_interval=1.0)) as service:
            await wait_for(lambda: service.writes == 1, what="the first page")
            started = anyio.current_time()
            for number in range(200):
                service.notify(delivered(f"post{number}"))
                service.notify(PostConcluded(f"post{number}", "published"))
                await anyio.sleep(0.005)
            seconds = anyio.current_time() - started
            await anyio.sleep(1.5)  # the last due page has come by now
        # The first page, one a second through the burst, the one after it.
        assert 2 <= service.writes <= 3 + seconds

    async def test_the_last_event_is_on_the_page_when_the_daemon_stops(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """Cancelled while it waits out its interval, the service still writes a last page."""
        config = page_config(tmp_path, registry)
        async with running(PageService(config, min_interval=60)) as service:
            await wait_for(lambda: service.writes == 1, what="the first page")
            service.notify(waiting("last.jpg"))
            await anyio.sleep(0.05)
        assert service.writes == 2
        assert "last.jpg waits" in page_of(config).read_text(encoding="utf-8")


class TestTrouble:
    async def test_a_page_that_cannot_be_written_is_logged_and_the_service_goes_on(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """A file where the folder should be: page.write_failed names the folder; once it is
        gone, the next event writes the page."""
        config = page_config(tmp_path, registry)
        folder = config.core.page.folder
        folder.write_text("in the way", encoding="utf-8")
        with capture_logs() as logs:
            async with running(PageService(config, min_interval=0.05)) as service:
                await wait_for(
                    lambda: any(e["event"] == "page.write_failed" for e in logs),
                    what="the failure",
                )
                folder.unlink()
                service.notify(waiting("after.jpg"))
                await wait_for(lambda: page_of(config).exists(), what="the page")
        failure = next(e for e in logs if e["event"] == "page.write_failed")
        assert (failure["folder"], failure["log_level"]) == (str(folder), "error")

    async def test_a_reload_that_moves_the_page_writes_it_in_the_new_folder(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """page.folder changed by a reload: the next page goes there."""
        config = page_config(tmp_path, registry)
        async with running(PageService(config, min_interval=0.05)) as service:
            await wait_for(lambda: service.writes == 1, what="the first page")
            moved = page_config(tmp_path, registry, folder="elsewhere")
            service.apply(moved)
            await wait_for(lambda: page_of(moved).exists(), what="the moved page")
        assert page_of(moved) == tmp_path / "elsewhere/index.html"

    async def test_a_disabled_page_is_never_written(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """page.enabled false: no status folder at all, whatever happens."""
        config = page_config(tmp_path, registry, enabled=False)
        async with running(PageService(config, min_interval=0.01)) as service:
            service.notify(waiting("x.jpg"))
            await anyio.sleep(0.2)
        assert not config.core.page.folder.exists()


class TestCost:
    def test_one_page_of_100_posts(self, tmp_path: Path, registry: Registry) -> None:
        """Prints what one page of 100 posts costs once its thumbnails exist (the benchmark's
        number; no bound asserted here, timings flake)."""
        fixture = build_every_state(tmp_path, registry)
        try:
            for number in range(100 - len(fixture.ids)):
                fixture.drop(f"extra{number}", f"extra{number}", f"Caption {number}")
                fixture.file(f"extra{number}", "published")
        finally:
            fixture.ledger.close()
        write_page(fixture.config)  # makes the thumbnails
        started = time.perf_counter()
        rounds = 10
        for _ in range(rounds):
            page = write_page(fixture.config)
        elapsed_ms = (time.perf_counter() - started) * 1000 / rounds
        print(f"one page of 100 posts: {elapsed_ms:.1f} ms")
        assert page.read_text(encoding="utf-8").count('<article class="card post"') == 100


class TestInTheDaemon:
    async def test_the_daemons_page_shows_a_post_sent_and_an_image_waiting_for_its_caption(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """The real daemon with a fake platform: the post's badge says sent, and the image
        without its caption is listed with the inbox's reason."""
        config_path = write_config(
            tmp_path, {"recording": {"enabled": True}}, orphan_warning_seconds=0.2
        )
        page = load_config(config_path, registry).core.page.folder / "index.html"
        async with running_daemon(config_path, registry):
            write_post(tmp_path / "inbox", "sunset", "Red sky")
            make_image(tmp_path / "inbox" / "nocaption.jpg")
            await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
            await wait_for(
                lambda: (
                    'data-state="sent"' in page.read_text(encoding="utf-8")
                    and "nocaption.jpg" in page.read_text(encoding="utf-8")
                ),
                within=20,
                what="the page",
            )
        text = page.read_text(encoding="utf-8")
        assert '<span class="name" dir="auto">sunset</span>' in text
        assert '<li class="badge sent" data-platform="recording" data-state="sent">' in text
        assert "nocaption.txt" in text  # the reason names the caption it waits for
