"""Bluesky after a crash: sessions kept, parts never posted twice, lost answers looked up."""

from __future__ import annotations

import stat
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from atproto_client import AsyncClient
from structlog.testing import capture_logs

from daemon.config import ConfigError, load_config
from daemon.post import Post
from daemon.progress import Destination, Destinations, DestinationState, MemoryProgress
from daemon.publishers.bluesky import BlueskySettings
from daemon.registry import Registry
from tests.conftest import write_config
from tests.fakes.pds import PdsServer, pds
from tests.test_bluesky import make_post, posts_with, publisher_for, read_post, thread_uris

__all__ = ["pds"]

SENTENCE = "The last light over the water turns the reeds to gold. "


class Crash(BaseException):
    """dropcast killed (kill -9) at that instant: nothing after it runs."""


class CrashingProgress(MemoryProgress):
    """Progress kept in memory that dies once, right after `crash_at` arrived on the server
    and before its `sent` mark is written: the worst moment for a duplicate."""

    def __init__(self, crash_at: str) -> None:
        super().__init__()
        self.crash_at: str | None = crash_at

    def for_post(self, post: Post, platform: str) -> Destinations:
        inner = super().for_post(post, platform)
        outer = self

        class _Dying(Destinations):
            async def known(self) -> dict[str, Destination]:
                return await inner.known()

            async def mark(self, destinations: Iterable[Destination]) -> None:
                marks = list(destinations)
                for mark in marks:
                    if mark.name == outer.crash_at and mark.state is DestinationState.SENT:
                        outer.crash_at = None
                        raise Crash
                await inner.mark(marks)

        return _Dying()


def thread_post(folder: Path) -> tuple[Post, str]:
    marker = uuid.uuid4().hex[:8]
    caption = f"{marker} " + SENTENCE * 4 + "\n\n" + SENTENCE * 4 + "\n\n" + SENTENCE * 4
    return make_post(folder, caption, [(64, 48)]), marker


@pytest.fixture
async def reader(pds: PdsServer) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(pds.url)
    yield client
    await client.request.close()


class TestSession:
    async def test_a_restart_reuses_the_saved_session_instead_of_logging_in(
        self, pds: PdsServer, tmp_path: Path
    ) -> None:
        """The first publisher logs in and saves its session (0600); a second one, with a
        wrong app password, still posts: it cannot have logged in, it reused the session."""
        state = tmp_path / "state"
        first = publisher_for(pds, state)
        with capture_logs() as logs:
            assert (await first.publish(make_post(tmp_path / "a", "one", [(64, 48)]))).ok
            assert (await first.publish(make_post(tmp_path / "b", "two", [(64, 48)]))).ok
        await first.close()
        assert [e["event"] for e in logs].count("session.logged_in") == 1
        saved = state / "bluesky" / "session-alice.test"
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        second = publisher_for(pds, state, app_password="wxyz-wxyz-wxyz-wxyz")
        with capture_logs() as logs:
            result = await second.publish(make_post(tmp_path / "c", "three", [(64, 48)]))
        await second.close()
        assert result.ok, result.error
        assert [e["event"] for e in logs].count("session.resumed") == 1
        assert "session.logged_in" not in [e["event"] for e in logs]

    async def test_a_wrong_app_password_is_refused_without_repeating_it(
        self, pds: PdsServer, tmp_path: Path
    ) -> None:
        """A login refused is a failure whose words (and the logs) never hold the password."""
        wrong = "abcd-efgh-ijkl-mnop"
        publisher = publisher_for(pds, tmp_path / "state", app_password=wrong, max_retries=0)
        with capture_logs() as logs:
            result = await publisher.publish(make_post(tmp_path / "p", "x", [(64, 48)]))
        await publisher.close()
        assert not result.ok
        assert not result.unknown
        assert result.error is not None
        assert "could not log in" in result.error
        assert wrong not in repr(result) + repr(logs)
        assert pds.alice.app_password not in repr(result) + repr(logs)


class TestCrash:
    async def test_a_thread_cut_by_a_crash_resumes_without_posting_a_part_twice(
        self, pds: PdsServer, reader: AsyncClient, tmp_path: Path
    ) -> None:
        """Killed right after part 2 arrived (before its mark): the next attempt finds part 2
        by its key, sends part 3 as its reply, and each part is on the PDS once."""
        post, marker = thread_post(tmp_path / "post")
        progress = CrashingProgress("part 2")
        publisher = publisher_for(pds, tmp_path / "state", progress)
        with pytest.raises(Crash):
            await publisher.publish(post)
        await publisher.close()
        known = await progress.for_post(post, "bluesky").known()
        assert known["part 2"].state is DestinationState.PENDING
        assert known["part 2"].remote_id
        again = publisher_for(pds, tmp_path / "state", progress)
        result = await again.publish(post)
        await again.close()
        assert result.ok, result.error
        uris = await thread_uris(again, progress, post)
        assert len(uris) == 3
        assert uris[1] == known["part 2"].remote_id
        third = await read_post(reader, uris[2])
        assert (third.reply.root.uri, third.reply.parent.uri) == (uris[0], uris[1])
        assert len(await posts_with(reader, pds.alice.did, marker)) == 1
        replies = [
            r
            for r in await posts_with(reader, pds.alice.did, "reeds")
            if r.value.reply is not None and r.value.reply.root.uri == uris[0]
        ]
        assert sorted(r.uri for r in replies) == sorted(uris[1:])

    async def test_an_unknown_answer_is_found_by_its_key_and_not_posted_again(
        self, pds: PdsServer, reader: AsyncClient, tmp_path: Path
    ) -> None:
        """Killed after the last part arrived: the daemon settles it unknown, `find_published`
        finds every part by its key and reports the thread sent; nothing is posted again."""
        post, marker = thread_post(tmp_path / "post")
        progress = CrashingProgress("part 3")
        publisher = publisher_for(pds, tmp_path / "state", progress)
        with pytest.raises(Crash):
            await publisher.publish(post)
        await publisher.close()
        destinations = progress.for_post(post, "bluesky")
        # What the ledger's recovery does at the restart: pending becomes unknown, the
        # stored key kept (MemoryProgress alone would drop it with a new mark).
        third = (await destinations.known())["part 3"]
        assert third.state is DestinationState.PENDING
        assert third.remote_id
        await destinations.mark([Destination("part 3", DestinationState.UNKNOWN, third.remote_id)])
        checker = publisher_for(pds, tmp_path / "state", progress)
        assert checker.resend_after_unknown == "check"
        found = await checker.find_published(post)
        await checker.close()
        assert found is not None
        assert found.ok
        uris = await thread_uris(checker, progress, post)
        assert found.remote_id == uris[0]
        assert all(d.accepted for d in (await destinations.known()).values())
        assert len(await posts_with(reader, pds.alice.did, marker)) == 1

    async def test_a_part_whose_request_never_arrived_is_sent_under_the_same_key(
        self, pds: PdsServer, reader: AsyncClient, tmp_path: Path
    ) -> None:
        """A part left in doubt that the PDS does not have is looked up, then created under the
        key stored for it: `find_published` says not found, and `publish` completes it."""
        post, marker = thread_post(tmp_path / "post")
        progress = MemoryProgress()
        destinations = progress.for_post(post, "bluesky")
        uri = f"at://{pds.alice.did}/app.bsky.feed.post/3n3o2aaaaaaa2"
        await destinations.mark([Destination("part 1", DestinationState.UNKNOWN, uri)])
        publisher = publisher_for(pds, tmp_path / "state", progress)
        assert await publisher.find_published(post) is None
        result = await publisher.publish(post)
        await publisher.close()
        assert result.ok
        assert result.remote_id == uri
        assert (await read_post(reader, uri)).text.startswith(marker)


class TestSettings:
    @pytest.mark.parametrize(
        ("key", "value", "words"),
        [
            ("handle", "not a handle", "expected a domain such as alice.bsky.social"),
            ("app_password", "my-main-password", "not an app password"),
            ("service", "bsky.social", "expected an http:// or https:// URL"),
            ("language", "english!", "not a language tag"),
            ("max_image_bytes", 10, "10 is too small: it must be at least 100000"),
        ],
    )
    def test_a_bad_value_is_refused_in_the_owners_words(
        self, key: str, value: object, words: str, tmp_path: Path
    ) -> None:
        """Each bad key says what was expected, and a bad password is never repeated."""
        section = {
            "enabled": True,
            "handle": "alice.bsky.social",
            "app_password": "abcd-efgh-ijkl-mnop",
            key: value,
        }
        config = write_config(tmp_path, {"bluesky": section})
        with pytest.raises(ConfigError) as raised:
            load_config(config, Registry.discover())
        assert f"platforms.bluesky.{key}" in str(raised.value)
        assert words in str(raised.value)
        assert "my-main-password" not in str(raised.value)

    def test_the_handle_may_start_with_an_at_sign(self) -> None:
        """@Alice.bsky.social is read as alice.bsky.social; defaults as documented."""
        settings = BlueskySettings.model_validate(
            {"handle": "@Alice.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"}
        )
        assert settings.handle == "alice.bsky.social"
        assert (settings.service, settings.language, settings.max_image_bytes) == (
            "https://bsky.social",
            "en",
            1_000_000,
        )
