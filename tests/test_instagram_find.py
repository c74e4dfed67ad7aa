"""After a crash: is the post already on Instagram? A look at the account's recent posts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
import requests
from structlog.testing import capture_logs

from daemon.publisher import PublishResult
from daemon.publishers.instagram.caption import truncate
from daemon.publishers.instagram.publisher import FOUND_NOTE, CannotTellError, InstagramPublisher
from tests.fakes.instagram import (
    FakeInstagram,
    fake_fixture,  # noqa: F401 - a pytest fixture
    feed_with,
    instagram_publisher,
    make_post,
    offline_fixture,  # noqa: F401 - a pytest fixture
    saved_state_fixture,  # noqa: F401 - a pytest fixture
)

LONG_CAPTION = " ".join(f"word{n:04d}" for n in range(300))[:2500]


def pause(state: Path, reason: str = "a security challenge") -> None:
    """Leave Instagram paused for an hour, as a challenge would."""
    until = datetime.now(UTC) + timedelta(hours=1)
    (state / "instagram" / "dropcast.test.limits.json").write_text(
        json.dumps({"paused_until": until.isoformat(), "pause_reason": reason})
    )


async def test_a_post_on_the_account_is_found_with_its_code_url_and_a_note(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """A recent post with the caption is the post: ok, its code and page, and a note saying so."""
    fake.reply("user_feed", 200, feed_with(("DCfakeCODE1", "Red sky tonight")))
    found = await instagram_publisher(state).find_published(make_post(tmp_path))
    assert found == PublishResult(
        ok=True,
        remote_id="DCfakeCODE1",
        url="https://www.instagram.com/p/DCfakeCODE1/",
        notes=(FOUND_NOTE,),
    )


async def test_the_look_is_one_request_for_the_last_12_posts_and_posts_nothing(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """One GET of the account's own feed, asking for 12 posts; nothing is uploaded."""
    await instagram_publisher(state).find_published(make_post(tmp_path))
    assert fake.names == ["user_feed"]
    request = fake.requests_to("user_feed")[0]
    assert request.method == "GET"
    assert request.url is not None
    assert "/api/v1/feed/user/4242424242/?" in request.url
    assert "count=12" in request.url


async def test_a_post_not_on_the_account_is_not_found(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """None of the recent posts has the caption: None, so the daemon sends the post."""
    with capture_logs() as logs:
        found = await instagram_publisher(state).find_published(make_post(tmp_path))
    assert found is None
    [event] = [e for e in logs if e["event"] == "instagram.post_not_found"]
    assert event["posts_looked_at"] == 3


async def test_only_the_last_12_posts_count(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """A post further down than the 12 newest is not looked at, even if Instagram sends it."""
    newer = [(f"DCnewer{n}", f"Another day {n}") for n in range(12)]
    fake.reply("user_feed", 200, feed_with(*newer, ("DCfakeCODE1", "Red sky tonight")))
    assert await instagram_publisher(state).find_published(make_post(tmp_path)) is None


@pytest.mark.parametrize(
    ("caption", "on_instagram"),
    [
        pytest.param(
            "---\ncaptions: {instagram: 'Only for Instagram'}\n---\nFor everyone else",
            "Only for Instagram",
            id="front-matter",
        ),
        pytest.param(LONG_CAPTION, truncate(LONG_CAPTION, 2200), id="truncated"),
        pytest.param("Red sky\n\ntonight", "Red sky\r\n\r\ntonight ", id="re-spaced"),
    ],
)
async def test_the_caption_looked_for_is_the_one_instagram_was_given(
    fake: FakeInstagram, state: Path, tmp_path: Path, caption: str, on_instagram: str
) -> None:
    """The per-post caption, shortened as publishing shortens it, is found however Instagram spaces it."""
    fake.reply("user_feed", 200, feed_with(("DCfakeCODE1", on_instagram)))
    found = await instagram_publisher(state).find_published(make_post(tmp_path, caption=caption))
    assert found is not None
    assert (found.ok, found.remote_id) == (True, "DCfakeCODE1")


async def test_the_whole_caption_is_not_found_where_instagram_has_the_shortened_one(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """A post of the same text, but not shortened as publishing would, is another post."""
    fake.reply("user_feed", 200, feed_with(("DCother", LONG_CAPTION)))
    post = make_post(tmp_path, caption=LONG_CAPTION)
    assert await instagram_publisher(state).find_published(post) is None


async def test_while_paused_no_request_is_made_and_the_post_is_not_sent_again(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """Paused: no request, and "cannot tell" (never None), so the daemon does not re-send."""
    pause(state)
    with pytest.raises(CannotTellError) as raised:
        await instagram_publisher(state).find_published(make_post(tmp_path))
    assert fake.names == []
    assert str(raised.value).startswith(
        "could not tell whether Instagram already has this post (Instagram is paused until "
    )


async def test_a_caption_publishing_would_refuse_cannot_be_on_the_account(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """Under too_long: fail a caption over the limit was never uploaded: None, without a request."""
    publisher = instagram_publisher(state, too_long="fail")
    assert await publisher.find_published(make_post(tmp_path, caption=LONG_CAPTION)) is None
    assert fake.names == []


async def test_a_post_without_a_caption_cannot_be_told_apart(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """An empty caption matches any uncaptioned post: "cannot tell", without a request."""
    with pytest.raises(CannotTellError, match="no caption to look for"):
        await instagram_publisher(state).find_published(make_post(tmp_path, caption=""))
    assert fake.names == []


@pytest.mark.parametrize(
    ("status", "reply", "said", "paused"),
    [
        pytest.param(400, "challenge_required.json", "security challenge", True, id="challenge"),
        pytest.param(429, "throttled.json", "HTTP 429", True, id="429"),
        pytest.param(
            500, {"status": "fail"}, "refused to show the account's posts", False, id="5xx"
        ),
        pytest.param(200, {"status": "ok"}, "held no posts", False, id="no-items"),
    ],
)
async def test_a_failed_look_cannot_tell_and_pauses_as_a_post_would(
    fake: FakeInstagram,
    state: Path,
    tmp_path: Path,
    status: int,
    reply: str | dict[str, str],
    said: str,
    paused: bool,
) -> None:
    """An error while looking is "cannot tell"; a challenge or a 429 pauses Instagram."""
    fake.reply("user_feed", status, reply)
    publisher = instagram_publisher(state)
    with pytest.raises(CannotTellError, match="could not tell whether Instagram") as raised:
        await publisher.find_published(make_post(tmp_path, "first"))
    fake.calls.clear()
    await publisher.publish(make_post(tmp_path, "second"))
    assert said in str(raised.value)
    assert (fake.names == []) is paused


async def test_a_network_timeout_while_looking_cannot_tell(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """A read timeout (which instagrapi's own feed methods turn into "no posts") is "cannot tell"."""
    fake.fail("user_feed", requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(CannotTellError, match="did not answer within request_timeout"):
        await instagram_publisher(state).find_published(make_post(tmp_path))


async def test_the_look_carries_the_request_timeout(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """The feed request has our network timeout, like every other request."""
    await instagram_publisher(state, request_timeout=7).find_published(make_post(tmp_path))
    [request] = fake.requests_to("user_feed")
    assert request.req_kwargs["timeout"] == 7  # type: ignore[attr-defined]


async def test_the_look_waits_for_a_post_in_progress(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """One Instagram action at a time: a look asked for during an upload comes after it."""
    fake.delay("rupload", 0.3)
    publisher = instagram_publisher(state)
    async with anyio.create_task_group() as group:
        group.start_soon(publisher.publish, make_post(tmp_path / "a", "uploading"))
        await anyio.sleep(0.1)
        group.start_soon(publisher.find_published, make_post(tmp_path / "b", "looked_for"))
    assert fake.names == ["rupload", "configure", "user_feed"]


async def test_without_a_session_the_look_and_the_post_share_one_login(
    fake: FakeInstagram, tmp_path: Path
) -> None:
    """With no saved session, looking logs in once, and the post that follows does not again."""
    publisher = instagram_publisher(tmp_path / "fresh")
    post = make_post(tmp_path)
    assert await publisher.find_published(post) is None
    result = await publisher.publish(post)
    assert result.ok, result.error
    assert fake.names.count("login") == 1
    assert fake.names.index("user_feed") > fake.names.index("login")


async def test_an_expired_session_is_renewed_once_for_the_look(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """login_required on the look: one login as the same phone, then the look again."""
    fake.reply("user_feed", 403, "login_required.json")
    found = await instagram_publisher(state).find_published(make_post(tmp_path))
    assert found is None
    assert fake.names.count("login") == 1
    assert fake.names.count("user_feed") == 2


async def test_an_expired_session_twice_cannot_tell_after_one_login(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """login_required even after a fresh login: cannot tell, and no third login."""
    fake.reply("user_feed", 403, "login_required.json", times=2)
    with pytest.raises(CannotTellError):
        await instagram_publisher(state).find_published(make_post(tmp_path))
    assert fake.names.count("login") == 1


async def test_a_refused_login_is_not_tried_again_by_the_look(
    fake: FakeInstagram, tmp_path: Path
) -> None:
    """After Instagram refused the login, looking makes no request, just as posting would not."""
    fake.reply("login", 200, "bloks_empty.json")
    publisher = instagram_publisher(tmp_path / "fresh")
    await publisher.publish(make_post(tmp_path, "first"))
    fake.calls.clear()
    with pytest.raises(CannotTellError, match="did not accept the login"):
        await publisher.find_published(make_post(tmp_path, "second"))
    assert fake.names == []


def test_instagram_asks_to_check_before_sending_again() -> None:
    """After a crash mid-send, the daemon asks Instagram (it does not re-send blindly)."""
    assert InstagramPublisher.resend_after_unknown == "check"
