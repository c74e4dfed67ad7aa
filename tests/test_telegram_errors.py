"""The telegram publisher when the Bot API refuses, rate-limits, fails or hangs."""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import cast

import aiohttp
import anyio
import pytest
from structlog.testing import capture_logs

from daemon.post import Post
from daemon.progress import Destination, Destinations, MemoryProgress
from daemon.publisher import Publisher
from daemon.publishers.telegram.api import TelegramCallError
from daemon.publishers.telegram.legacy import post_key
from daemon.publishers.telegram.media import prepare_media
from daemon.secrets import REDACTOR
from daemon.settings import PlatformSettings
from daemon.workflow import fan_out
from tests.conftest import make_image
from tests.fakes.ledger import admitted, ledger_progress
from tests.fakes.telegram_api import TOKEN, FakeTelegram, fake_telegram, telegram_publisher

SECRET_HALF = TOKEN.partition(":")[2]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with fake_telegram() as server:
        yield server


def post_of(folder: Path, caption: str = "Red sky tonight") -> Post:
    caption_file = folder / "sunset.txt"
    caption_file.write_text(caption, encoding="utf-8")
    return Post("sunset", (make_image(folder / "sunset.jpg"),), caption_file, caption)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_a_429_is_waited_out_then_retried(fake: FakeTelegram, tmp_path: Path) -> None:
    """Flood control's retry_after is waited before the same request is sent again."""
    fake.fail(429, method="sendPhoto", retry_after=1, times=1)
    started = time.monotonic()
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post_of(tmp_path))
    assert result.ok, result.error
    assert result.attempts == 2
    assert time.monotonic() - started >= 1.0
    assert [request.status for request in fake.requests] == [429, 200]


async def test_a_flood_wait_longer_than_the_time_left_fails_at_once(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """A retry_after the publish timeout could not wait out is reported now, not slept through."""
    fake.fail(429, method="sendPhoto", retry_after=300)
    async with telegram_publisher(fake, tmp_path) as publisher:
        with anyio.fail_after(5):
            result = await publisher.publish(post_of(tmp_path))
    assert not result.ok
    assert result.error is not None
    assert "flood control asked to wait 300 s" in result.error
    assert "longer than the publish timeout leaves" in result.error
    assert len(fake.requests) == 1


async def test_a_server_error_then_success_is_retried(fake: FakeTelegram, tmp_path: Path) -> None:
    """A 500 is retried after a backoff, and the second answer counts."""
    fake.fail(500, times=1)
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post_of(tmp_path))
    assert result.ok, result.error
    assert result.attempts == 2


async def test_server_errors_are_retried_max_retries_times(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """A server that keeps failing gets max_retries more tries, then the error is reported."""
    fake.fail(500)
    async with telegram_publisher(fake, tmp_path, max_retries=2) as publisher:
        result = await publisher.publish(post_of(tmp_path))
    assert not result.ok
    assert len(fake.requests) == 3
    assert result.error == (
        "@channel: Telegram had a server error: Internal Server Error (gave up after 3 attempts)"
    )


async def test_a_403_for_one_of_two_chats_fails_only_that_chat(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """The other chat still gets the post; the error names the chat and what to fix."""
    fake.fail(403, chat="@private_channel")
    chats = ["@channel", "@private_channel"]
    async with telegram_publisher(fake, tmp_path, chat_ids=chats) as publisher:
        result = await publisher.publish(post_of(tmp_path))
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith(
        "1 of 2 chats did not get the post: @private_channel: the bot is not an admin of "
        "@private_channel: add it to @private_channel as an administrator allowed to post"
    )
    assert [request.chat_id for request in fake.sent("sendPhoto")] == ["@channel"]
    assert result.remote_id == "@channel:1"
    assert len(fake.requests) == 2  # a 403 is not retried


@pytest.mark.parametrize(
    ("status", "description", "expected"),
    [
        (400, "Bad Request: chat not found", "Telegram does not know the chat @channel"),
        (401, "Unauthorized", "Telegram does not accept the bot token (401 Unauthorized)"),
        (404, "Not Found", "answered 404 Not Found: check platforms.telegram.api_server"),
        (
            400,
            "Bad Request: can't parse entities: Unsupported start tag",
            "could not read the caption's markup",
        ),
    ],
    ids=["chat-not-found", "bad-token", "not-found", "bad-markup"],
)
async def test_a_refusal_is_not_retried_and_says_what_to_fix(
    fake: FakeTelegram, tmp_path: Path, status: int, description: str, expected: str
) -> None:
    """A 400, 401 or 404 fails at the first answer with a message that names the fix."""
    fake.fail(status, description=description)
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post_of(tmp_path))
    assert not result.ok
    assert result.error is not None
    assert expected in result.error
    assert len(fake.requests) == 1


async def test_a_slow_server_fails_after_request_timeout(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """A request that gets no answer within request_timeout is unknown, and is not sent again:
    Telegram may have posted it."""
    fake.slow(5)
    async with telegram_publisher(fake, tmp_path, request_timeout=0.3, max_retries=3) as publisher:
        result = await publisher.publish(post_of(tmp_path))
    assert result.outcome == "unknown"
    assert result.error == (
        "@channel: Telegram did not answer within 0.3 s (request_timeout); the message may "
        "have arrived"
    )
    assert len(fake.sent("sendPhoto")) == 1


async def test_an_ok_answer_that_cannot_be_read_is_unknown_and_not_sent_again(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """Telegram carried the request out and said ok in an answer aiogram could not read: the
    message is there, so it is not retried (it was sent again up to max_retries times)."""
    fake.garble(method="sendPhoto", times=1)
    async with telegram_publisher(fake, tmp_path, max_retries=3) as publisher:
        result = await publisher.publish(post_of(tmp_path))
    assert result.outcome == "unknown"
    assert "could not be read; the message has arrived" in (result.error or "")
    assert len(fake.sent("sendPhoto")) == 1


@pytest.mark.parametrize(
    ("cause", "lost"),
    [
        (aiohttp.ConnectionTimeoutError("connect timed out"), False),
        (aiohttp.ServerTimeoutError("read timed out"), True),
        (aiohttp.ServerDisconnectedError(), True),
    ],
)
async def test_only_a_request_that_may_have_left_is_lost(cause: Exception, lost: bool) -> None:
    """A connect that timed out sent nothing (retried); a read time-out or a dropped
    connection may have delivered the message (unknown, not retried)."""
    from aiogram.exceptions import TelegramNetworkError
    from aiogram.methods import GetMe

    from daemon.publishers.telegram.api import _Where, explain

    error = TelegramNetworkError(method=GetMe(), message=f"{type(cause).__name__}: {cause}")
    error.__cause__ = cause
    explained = explain(error, _Where("@channel", "http://127.0.0.1:1", 5))
    assert (explained.lost, explained.retry is not None) == (lost, not lost)


async def test_the_publish_timeout_stops_a_hanging_publish(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """The fan-out's publish_timeout cuts a slow Telegram short, and the publisher still closes."""
    fake.slow(5)
    async with telegram_publisher(fake, tmp_path) as publisher:
        publishers = {"telegram": cast("Publisher[PlatformSettings]", publisher)}
        results = await fan_out(post_of(tmp_path), publishers, 0.5)
    assert results["telegram"].outcome == "unknown"
    assert results["telegram"].error == (
        "timed out after 0.5 s, while sending to @channel#0: it may have arrived"
    )


async def test_a_chat_that_got_the_post_does_not_get_it_again_on_retry(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """When a post is retried, only the chat that failed is sent it."""
    fake.fail(403, chat="-1009", times=1)
    post = post_of(tmp_path)
    async with telegram_publisher(fake, tmp_path, chat_ids=["@channel", -1009]) as publisher:
        first = await publisher.publish(post)
        second = await publisher.publish(post)
    assert not first.ok
    assert second.ok, second.error
    assert [request.chat_id for request in fake.sent("sendPhoto")] == ["@channel", "-1009"]
    assert second.remote_id == "@channel:1 -1009:1"


async def test_a_retry_after_a_lost_caption_part_sends_only_the_rest(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """The photo arrived but its caption's second part did not: a retry sends just that part."""
    fake.fail(400, method="sendMessage", description="Bad Request: try again", times=1)
    post = post_of(tmp_path, "word " * 300)
    async with telegram_publisher(fake, tmp_path) as publisher:
        first = await publisher.publish(post)
        second = await publisher.publish(post)
    assert first.error is not None
    assert "the image and 1 of 2 caption parts arrived" in first.error
    assert second.ok, second.error
    assert [request.method for request in fake.sent()] == ["sendPhoto", "sendMessage"]
    assert fake.sent("sendMessage")[0].reply_to == 1


async def test_progress_an_earlier_dropcast_kept_in_deliveries_json_moves_to_the_ledger(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """A chat that deliveries.json says has the post is not sent it again; the entry moves into
    the ledger, and the file goes once it is empty."""
    post, chats = post_of(tmp_path), ["@channel", -1001234]
    media = prepare_media(post.image, "document")
    key = post_key([media.sha256()], post.caption, None)
    deliveries = tmp_path / "state" / "telegram" / "deliveries.json"
    deliveries.parent.mkdir(parents=True)
    earlier = {"@channel": {"message_id": 7, "steps_done": 1, "url": "https://t.me/channel/7"}}
    deliveries.write_text(json.dumps({key: earlier}))
    with ledger_progress(tmp_path / "state") as progress:
        post = admitted(progress, post)
        async with telegram_publisher(fake, tmp_path / "state", progress, chat_ids=chats) as pub:
            result = await pub.publish(post)
        known = await progress.for_post(post, "telegram").known()
    assert result.ok, result.error
    assert [request.chat_id for request in fake.sent("sendPhoto")] == ["-1001234"]
    assert result.remote_id == "@channel:7 -1001234:1"
    assert known["@channel#0"].remote_id == "7"
    assert not deliveries.exists()


class FullLedger(MemoryProgress):
    """A ledger on a full disk: every mark fails."""

    def for_post(self, post: Post, platform: str) -> Destinations:
        return _Unwritable()


class _Unwritable(Destinations):
    async def known(self) -> dict[str, Destination]:
        return {}

    async def mark(self, destinations: Iterable[Destination]) -> None:
        raise sqlite3.OperationalError("database or disk is full")


async def test_deliveries_json_keeps_its_entry_until_the_ledger_has_it(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """A ledger that cannot take the migrated progress leaves the file's entry, and nothing
    is sent on the strength of it."""
    post = post_of(tmp_path)
    media = prepare_media(post.image, "document")
    key = post_key([media.sha256()], post.caption, None)
    deliveries = tmp_path / "state" / "telegram" / "deliveries.json"
    deliveries.parent.mkdir(parents=True)
    deliveries.write_text(json.dumps({key: {"@channel": {"message_id": 7, "steps_done": 1}}}))
    async with telegram_publisher(fake, tmp_path / "state", FullLedger()) as publisher:
        with pytest.raises(sqlite3.OperationalError):
            await publisher.publish(post)
    assert key in json.loads(deliveries.read_text())
    assert fake.sent("sendPhoto") == []


async def test_a_crash_before_the_ledger_recorded_the_post_sends_it_to_no_chat_again(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """dropcast dies after every chat got the post but before the ledger said `sent`: each
    chat's part is in the ledger already, so `dropcast retry` sends no chat anything."""
    post, chats = post_of(tmp_path), ["@channel", -1001234]
    with ledger_progress(tmp_path / "state") as progress:
        post = admitted(progress, post)
        async with telegram_publisher(fake, tmp_path / "state", progress, chat_ids=chats) as pub:
            first = await pub.publish(post)  # and then the process died
    with ledger_progress(tmp_path / "state") as progress:
        async with telegram_publisher(fake, tmp_path / "state", progress, chat_ids=chats) as pub:
            again = await pub.publish(post)
    assert len(fake.sent("sendPhoto")) == 2
    assert again.ok
    assert again.remote_id == first.remote_id


async def test_the_token_never_appears_in_logs_or_results(
    fake: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Errors that echo the request URL, retries and unreachable servers all keep the token out."""
    REDACTOR.replace_secrets([])  # the publisher must scrub on its own, not rely on this
    caplog.set_level(logging.DEBUG)
    echo = f"Bad Request: no route for /bot{TOKEN}/sendPhoto, secret {SECRET_HALF}"
    fake.fail(500, chat="@first", description=echo)
    fake.fail(400, chat="@second", description=echo)
    results = []
    with capture_logs() as logs:
        async with telegram_publisher(
            fake, tmp_path, chat_ids=["@first", "@second"], max_retries=1
        ) as publisher:
            results.append(await publisher.publish(post_of(tmp_path)))
        unreachable = fake.url.rsplit(":", 1)[0] + f":{closed_port()}"
        async with telegram_publisher(
            fake, tmp_path, api_server=unreachable, max_retries=1
        ) as publisher:
            results.append(await publisher.publish(post_of(tmp_path)))
            with pytest.raises(TelegramCallError) as check:
                await publisher.check_connection()
    everything = repr(logs) + caplog.text + repr([asdict(r) for r in results]) + str(check.value)
    assert all(not result.ok for result in results)
    assert "[redacted]" in everything  # the echoes were there, and were scrubbed
    assert any(event["event"] == "platform.retrying" for event in logs)
    assert TOKEN not in everything
    assert SECRET_HALF not in everything


async def test_check_connection_asks_once(fake: FakeTelegram, tmp_path: Path) -> None:
    """`check --connect` reports a server error at once: its getMe is never retried."""
    fake.fail(500, method="getMe")
    async with telegram_publisher(fake, tmp_path, max_retries=3) as publisher:
        with pytest.raises(TelegramCallError, match="Telegram had a server error"):
            await publisher.check_connection()
    assert len(fake.requests) == 1


async def test_check_connection_with_a_wrong_token_says_what_to_fix(tmp_path: Path) -> None:
    """A token the Bot API does not know makes `check --connect` fail with a clear reason."""
    async with (
        fake_telegram(token="987654321:AAH-another-token-nobody-knows-xyz") as fake,
        telegram_publisher(fake, tmp_path) as publisher,
    ):
        with pytest.raises(TelegramCallError, match="does not accept the bot token"):
            await publisher.check_connection()
