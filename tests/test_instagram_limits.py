"""Pause, don't hammer: challenges and rate limits pause Instagram; posting limits hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from tests.fakes.instagram import (
    FakeInstagram,
    fake_fixture,  # noqa: F401 - a pytest fixture
    instagram_publisher,
    make_post,
    offline_fixture,  # noqa: F401 - a pytest fixture
    saved_state_fixture,  # noqa: F401 - a pytest fixture
)


def limits_file(state: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (state / "instagram" / "dropcast.test.limits.json").read_text()
    )
    return data


# Replies that mean "stop for a while", where they come, and what the owner is told.
PAUSING_REPLIES = [
    pytest.param("configure", 400, "challenge_required.json", "security challenge", id="challenge"),
    pytest.param(
        "configure", 400, "challenge_required_legacy.json", "security challenge", id="legacy"
    ),
    pytest.param("configure", 400, "feedback_required.json", "feedback required", id="feedback"),
    pytest.param("configure", 429, "throttled.json", "HTTP 429", id="429-configure"),
    pytest.param("rupload", 429, "throttled.json", "HTTP 429", id="429-upload"),
    pytest.param("configure", 400, "please_wait.json", "slow down", id="please-wait"),
    pytest.param("rupload", 400, "challenge_required.json", "security challenge", id="upload"),
]


@pytest.mark.parametrize(("endpoint", "status", "reply", "said"), PAUSING_REPLIES)
async def test_a_pausing_reply_fails_the_post_and_says_what_happened(
    fake: FakeInstagram,
    state: Path,
    tmp_path: Path,
    endpoint: str,
    status: int,
    reply: str,
    said: str,
) -> None:
    """The post fails with words that name what Instagram did."""
    fake.reply(endpoint, status, reply)
    result = await instagram_publisher(state).publish(make_post(tmp_path))
    assert not result.ok
    assert result.error is not None
    assert said in result.error


@pytest.mark.parametrize(("endpoint", "status", "reply", "said"), PAUSING_REPLIES)
async def test_after_a_pausing_reply_the_next_post_makes_no_request(
    fake: FakeInstagram,
    state: Path,
    tmp_path: Path,
    endpoint: str,
    status: int,
    reply: str,
    said: str,
) -> None:
    """Once paused, a post fails at once with the pause's reason and nothing is sent."""
    publisher = instagram_publisher(state)
    fake.reply(endpoint, status, reply)
    await publisher.publish(make_post(tmp_path, "first"))
    fake.calls.clear()
    result = await publisher.publish(make_post(tmp_path, "second"))
    assert fake.names == []
    assert result.error is not None
    assert result.error.startswith("Instagram is paused until")
    assert said in result.error


@pytest.mark.parametrize(("endpoint", "status", "reply", "said"), PAUSING_REPLIES)
async def test_a_pause_is_one_error_event_with_advice(
    fake: FakeInstagram,
    state: Path,
    tmp_path: Path,
    endpoint: str,
    status: int,
    reply: str,
    said: str,
) -> None:
    """Pausing logs exactly one error event, which says until when and what to do."""
    fake.reply(endpoint, status, reply)
    with capture_logs() as logs:
        await instagram_publisher(state).publish(make_post(tmp_path))
    errors = [event for event in logs if event["log_level"] == "error"]
    assert [event["event"] for event in errors] == ["instagram.paused"]
    assert said in errors[0]["reason"]
    assert errors[0]["until"]


async def test_a_challenge_at_login_pauses_too(fake: FakeInstagram, tmp_path: Path) -> None:
    """A challenge in answer to the login pauses Instagram just as one on upload does."""
    fake.reply("login", 400, "challenge_required.json")
    publisher = instagram_publisher(tmp_path / "fresh")
    first = await publisher.publish(make_post(tmp_path, "first"))
    fake.calls.clear()
    second = await publisher.publish(make_post(tmp_path, "second"))
    assert first.error is not None
    assert "security challenge" in first.error
    assert second.error is not None
    assert second.error.startswith("Instagram is paused until")
    assert fake.names == []


async def test_a_code_challenge_at_login_pauses_without_asking_for_input(
    fake: FakeInstagram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the login asks for a code sent by e-mail, nobody is prompted: Instagram is paused."""

    def prompt(*args: object) -> str:
        raise AssertionError("instagrapi asked for input()")

    monkeypatch.setattr("builtins.input", prompt)
    fake.reply("login", 200, "login_code_challenge.json")
    result = await instagram_publisher(tmp_path / "fresh").publish(make_post(tmp_path))
    assert result.error is not None
    assert "security challenge" in result.error
    assert fake.names[-2:] == ["code_challenge_entry", "code_challenge_screen"]


async def test_the_pause_survives_a_new_publisher_instance(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """A restart (a new publisher on the same state) is still paused, and sends nothing."""
    fake.reply("configure", 400, "challenge_required.json")
    await instagram_publisher(state).publish(make_post(tmp_path, "first"))
    fake.calls.clear()
    result = await instagram_publisher(state).publish(make_post(tmp_path, "second"))
    assert result.error is not None
    assert result.error.startswith("Instagram is paused until")
    assert fake.names == []


async def test_the_pause_lasts_pause_minutes(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """The pause ends pause_minutes after it began; then posts go again."""
    publisher = instagram_publisher(state, pause_minutes=0.01)  # 0.6 s
    fake.reply("configure", 429, "throttled.json")
    await publisher.publish(make_post(tmp_path, "first"))
    paused_until = datetime.fromisoformat(limits_file(state)["paused_until"])
    assert timedelta(seconds=0.5) < paused_until - datetime.now(UTC) <= timedelta(seconds=0.6)
    await anyio.sleep(0.7)
    result = await publisher.publish(make_post(tmp_path, "second"))
    assert result.ok, result.error


@pytest.mark.parametrize("saved_session", [True, False])
async def test_a_429_is_not_retried(
    fake: FakeInstagram, state: Path, tmp_path: Path, saved_session: bool
) -> None:
    """HTTP 429 gets no automatic retry (with a saved session or a fresh login): one configure."""
    if not saved_session:
        (state / "instagram" / "dropcast.test.json").unlink()
    fake.reply("configure", 429, "throttled.json", times=5)
    await instagram_publisher(state).publish(make_post(tmp_path))
    assert fake.names.count("configure") == 1


async def test_instagrapis_warnings_become_events_not_stray_output(
    fake: FakeInstagram, state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """instagrapi's own warning about a 429 is a dropcast event, and nothing goes to stderr."""
    fake.reply("configure", 429, "throttled.json")
    with capture_logs() as logs:
        await instagram_publisher(state).publish(make_post(tmp_path))
    warned = [event for event in logs if event["event"] == "instagram.library_warned"]
    assert [event["message"] for event in warned] == ["Status 429: Too many requests"]
    assert capsys.readouterr().err == ""


async def test_check_connection_after_a_challenge_lifts_the_pause(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """Once the owner confirmed it was them, `check --connect` succeeding ends the pause."""
    fake.reply("configure", 400, "challenge_required.json")
    publisher = instagram_publisher(state)
    await publisher.publish(make_post(tmp_path, "first"))
    found = await instagram_publisher(state).check_connection()
    result = await publisher.publish(make_post(tmp_path, "second"))
    assert found == "account @dropcast.test (the pause is lifted)"
    assert result.ok, result.error


async def test_a_second_post_within_min_interval_makes_no_request(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """Two posts closer than min_interval_seconds: the second fails at once and sends nothing."""
    publisher = instagram_publisher(state, min_interval_seconds=120)
    first = await publisher.publish(make_post(tmp_path, "first"))
    fake.calls.clear()
    second = await publisher.publish(make_post(tmp_path, "second"))
    assert first.ok, first.error
    assert second.error is not None
    assert "min_interval_seconds (120 s)" in second.error
    assert fake.names == []


async def test_a_post_after_min_interval_goes(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """Once min_interval_seconds have passed, the next post is made."""
    publisher = instagram_publisher(state, min_interval_seconds=0.3)
    await publisher.publish(make_post(tmp_path, "first"))
    await anyio.sleep(0.35)
    result = await publisher.publish(make_post(tmp_path, "second"))
    assert result.ok, result.error


async def test_max_posts_per_day_holds_across_instances(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """With max_posts_per_day 2, a third post (even from a new publisher) fails and sends nothing."""
    for stem in ("one", "two"):
        result = await instagram_publisher(state, max_posts_per_day=2).publish(
            make_post(tmp_path, stem)
        )
        assert result.ok, result.error
    fake.calls.clear()
    third = await instagram_publisher(state, max_posts_per_day=2).publish(
        make_post(tmp_path, "three")
    )
    assert third.error is not None
    assert "max_posts_per_day (2) reached" in third.error
    assert fake.names == []


async def test_posts_older_than_24_hours_do_not_count(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """Posts made more than 24 hours ago leave room for new ones."""
    day_ago = datetime.now(UTC) - timedelta(hours=24, minutes=1)
    (state / "instagram" / "dropcast.test.limits.json").write_text(
        json.dumps({"published_at": [day_ago.isoformat()] * 2})
    )
    result = await instagram_publisher(state, max_posts_per_day=2).publish(make_post(tmp_path))
    assert result.ok, result.error


async def test_an_unreadable_limits_file_is_replaced(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """A damaged limits file is logged and rewritten, and the post is made."""
    path = state / "instagram" / "dropcast.test.limits.json"
    path.write_text("{not json")
    with capture_logs() as logs:
        result = await instagram_publisher(state).publish(make_post(tmp_path))
    assert result.ok, result.error
    assert "instagram.limits_reset" in [event["event"] for event in logs]
    assert len(json.loads(path.read_text())["published_at"]) == 1
