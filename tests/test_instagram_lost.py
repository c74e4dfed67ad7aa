"""A lost answer to configure: sent once, `unknown`, and looked for before any resend.

Configure (`media/configure/`) is the request that makes the post. When it went out and no
answer came (a timeout, a broken connection, an answer cut off, a 408 or a 5xx), the post
may be on the account: the attempt is `unknown`, never `refused`, and instagrapi's own
re-sends (after a 408 or an incomplete read) are off. An answer that comes after the
daemon gave up (`publish_timeout`) is recorded as the "feed" destination, where the next
attempt finds it without a request.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import anyio
import pytest
import requests
from urllib3.exceptions import ConnectTimeoutError, ProtocolError

from daemon.post import Post
from daemon.progress import DestinationState, MemoryProgress
from daemon.publisher import AnyPublisher, PublishResult
from daemon.publishers.instagram.publisher import FOUND_NOTE, RECORDED_NOTE, InstagramPublisher
from daemon.workflow import fan_out
from tests.fakes.instagram import (
    FakeInstagram,
    fake_fixture,  # noqa: F401 - a pytest fixture
    feed_with,
    instagram_publisher,
    make_post,
    offline_fixture,  # noqa: F401 - a pytest fixture
    saved_state_fixture,  # noqa: F401 - a pytest fixture
)
from tests.fakes.instagram.network import Sleeps

LOST = "Instagram's answer to the post was lost ("


@pytest.fixture
def progress() -> MemoryProgress:
    return MemoryProgress()


def lose_configure(fake: FakeInstagram, how: str) -> None:
    """Make the next configure go out and its answer be lost in the way `how` names."""
    reset = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset by peer"))
    cut = ProtocolError("Connection broken: IncompleteRead(12 bytes read, 200 more expected)")
    if how == "timeout":
        fake.fail("configure", requests.exceptions.ReadTimeout("read timed out"))
    elif how == "reset":
        fake.fail("configure", requests.exceptions.ConnectionError(reset))
    elif how == "cut-off":
        fake.fail("configure", requests.exceptions.ChunkedEncodingError(cut))
    else:  # an HTTP status
        fake.reply("configure", int(how), {"message": "", "status": "fail"})


LOSSES = ["timeout", "reset", "cut-off", "408", "500", "502"]


async def feed_state(progress: MemoryProgress, post: Post) -> DestinationState | None:
    known = await progress.for_post(post, "instagram").known()
    return known["feed"].state if "feed" in known else None


async def publish_timing_out(
    publisher: InstagramPublisher, post: Post, publish_timeout: float
) -> PublishResult:
    """One attempt through the real fan-out, with this `publish_timeout`."""
    publishers = {"instagram": cast(AnyPublisher, publisher)}
    return (await fan_out(post, publishers, publish_timeout))["instagram"]


async def next_attempt(
    publisher: InstagramPublisher, post: Post, last: PublishResult
) -> PublishResult:
    """The daemon's next attempt after `last` (as `workflow._should_send` decides it): refused,
    it sends again; unknown, under "check", it looks first and sends only if it is missing."""
    if last.outcome == "unknown":
        found = await publisher.find_published(post)
        if found is not None:
            return found
    return await publisher.publish(post)


@pytest.mark.parametrize("how", LOSSES)
async def test_a_lost_configure_answer_is_unknown_after_one_configure(
    fake: FakeInstagram, state: Path, tmp_path: Path, progress: MemoryProgress, how: str
) -> None:
    """Each way of losing configure's answer sends configure once and ends `unknown`."""
    lose_configure(fake, how)
    post = make_post(tmp_path)
    result = await instagram_publisher(state, progress).publish(post)
    assert fake.names.count("configure") == 1
    assert result.outcome == "unknown", result.error
    assert result.error is not None
    assert result.error.startswith(LOST)
    assert result.error.endswith("Check the account, then `dropcast retry` if the post is missing")
    assert await feed_state(progress, post) is DestinationState.UNKNOWN


@pytest.mark.parametrize("how", ["408", "cut-off"])
async def test_instagrapi_neither_waits_nor_sends_configure_again(
    fake: FakeInstagram, state: Path, tmp_path: Path, sleeps: Sleeps, how: str
) -> None:
    """After a 408 or an answer cut off instagrapi would sleep (60 s, 2 s) and re-send: neither."""
    lose_configure(fake, how)
    await instagram_publisher(state).publish(make_post(tmp_path))
    assert fake.names == ["rupload", "configure"]
    assert not {60, 2} & set(sleeps.seconds), sleeps.seconds


async def lost_first_attempt(
    fake: FakeInstagram, state: Path, tmp_path: Path, how: str
) -> tuple[InstagramPublisher, Post, PublishResult]:
    """A publisher, a post, and its first attempt, whose configure answer was lost (`how`)."""
    lose_configure(fake, how)
    publisher = instagram_publisher(state)
    post = make_post(tmp_path)
    return publisher, post, await publisher.publish(post)


@pytest.mark.parametrize("how", LOSSES)
async def test_a_lost_post_found_on_the_account_is_not_posted_twice(
    fake: FakeInstagram, state: Path, tmp_path: Path, how: str
) -> None:
    """Lost, then the caption is among the recent posts: found, and configure stays at one."""
    publisher, post, first = await lost_first_attempt(fake, state, tmp_path, how)
    fake.reply("user_feed", 200, feed_with(("DCfakeCODE1", "Red sky tonight")))
    result = await next_attempt(publisher, post, first)
    assert (result.ok, result.remote_id, result.notes) == (True, "DCfakeCODE1", (FOUND_NOTE,))
    assert fake.names.count("configure") == 1


@pytest.mark.parametrize("how", LOSSES)
async def test_a_lost_post_missing_from_the_account_is_sent_again_once(
    fake: FakeInstagram, state: Path, tmp_path: Path, how: str
) -> None:
    """Lost, then no recent post has the caption: it is sent again, once."""
    publisher, post, first = await lost_first_attempt(fake, state, tmp_path, how)
    result = await next_attempt(publisher, post, first)
    assert result.ok, result.error
    assert fake.names == ["rupload", "configure", "user_feed", "rupload", "configure"]


@pytest.mark.parametrize(
    ("endpoint", "error"),
    [
        pytest.param("rupload", requests.exceptions.ReadTimeout("read timed out"), id="upload"),
        pytest.param(
            "configure",
            requests.exceptions.ConnectTimeout(ConnectTimeoutError("connect timed out")),
            id="configure-never-connected",
        ),
    ],
)
async def test_a_failure_before_configure_left_is_refused(
    fake: FakeInstagram,
    state: Path,
    tmp_path: Path,
    progress: MemoryProgress,
    endpoint: str,
    error: Exception,
) -> None:
    """A timed-out upload, or a configure whose connection was never made, cannot have posted."""
    fake.fail(endpoint, error)
    post = make_post(tmp_path)
    result = await instagram_publisher(state, progress).publish(post)
    assert result.outcome == "refused", result.error
    assert await feed_state(progress, post) in (None, DestinationState.REFUSED)


async def test_a_refused_configure_marks_the_feed_refused(
    fake: FakeInstagram, state: Path, tmp_path: Path, progress: MemoryProgress
) -> None:
    """Instagram's no to configure (a challenge) is `refused`, and so is the feed destination."""
    fake.reply("configure", 400, "challenge_required.json")
    post = make_post(tmp_path)
    result = await instagram_publisher(state, progress).publish(post)
    assert result.outcome == "refused"
    assert await feed_state(progress, post) is DestinationState.REFUSED


async def test_a_post_made_marks_the_feed_sent_with_its_code_and_url(
    fake: FakeInstagram, state: Path, tmp_path: Path, progress: MemoryProgress
) -> None:
    """Configure's answer is recorded as the feed destination, with the media code and page."""
    post = make_post(tmp_path)
    await instagram_publisher(state, progress).publish(post)
    feed = (await progress.for_post(post, "instagram").known())["feed"]
    assert (feed.state, feed.remote_id, feed.url) == (
        DestinationState.SENT,
        "DCfakeCODE1",
        "https://www.instagram.com/p/DCfakeCODE1/",
    )


async def wait_for_feed(progress: MemoryProgress, post: Post, state: DestinationState) -> None:
    """Poll the feed destination (marked from the worker thread) until it is `state`."""
    for _ in range(250):
        if await feed_state(progress, post) is state:
            return
        await anyio.sleep(0.02)
    raise AssertionError(f"the feed destination never became {state}")


async def test_an_answer_after_publish_timeout_is_recorded_and_found_without_a_request(
    fake: FakeInstagram, state: Path, tmp_path: Path, progress: MemoryProgress
) -> None:
    """publish_timeout inside configure: `unknown` at once; the late answer marks the feed
    sent, and the next look and the next publish return it with no request."""
    answer = fake.hold("configure")
    publisher = instagram_publisher(state, progress)
    post = make_post(tmp_path)
    with anyio.fail_after(3):  # not the 10 s the held answer would take
        result = await publish_timing_out(publisher, post, 0.3)
    assert result.outcome == "unknown", result.error
    answer.set()
    await wait_for_feed(progress, post, DestinationState.SENT)
    fake.calls.clear()
    found = await publisher.find_published(post)
    again = await publisher.publish(post)
    assert found == PublishResult(
        ok=True,
        remote_id="DCfakeCODE1",
        url="https://www.instagram.com/p/DCfakeCODE1/",
        notes=(RECORDED_NOTE,),
    )
    assert again == found
    assert fake.names == []


async def test_a_look_while_a_given_up_configure_is_out_waits_for_its_answer(
    fake: FakeInstagram, state: Path, tmp_path: Path, progress: MemoryProgress
) -> None:
    """A look asked for while the thread is still inside configure waits, then finds its answer."""
    answer = fake.hold("configure")
    publisher = instagram_publisher(state, progress)
    post = make_post(tmp_path)
    await publish_timing_out(publisher, post, 0.3)

    async def answer_later() -> None:
        await anyio.sleep(0.2)
        answer.set()

    async with anyio.create_task_group() as group:
        group.start_soon(answer_later)
        found = await publisher.find_published(post)  # asked before the answer came
    assert found is not None
    assert (found.remote_id, found.notes) == ("DCfakeCODE1", (RECORDED_NOTE,))
    assert fake.names.count("configure") == 1
    assert "user_feed" not in fake.names


async def test_an_attempt_given_up_before_configure_never_sends_it(
    fake: FakeInstagram, state: Path, tmp_path: Path, progress: MemoryProgress
) -> None:
    """publish_timeout during the upload: the thread stops before configure; nothing is pending."""
    fake.delay("rupload", 0.5)
    publisher = instagram_publisher(state, progress)
    post = make_post(tmp_path)
    result = await publish_timing_out(publisher, post, 0.1)
    await publisher.close()  # waits for the thread given up on
    assert result.outcome == "refused"
    assert "configure" not in fake.names
    assert await feed_state(progress, post) is None
