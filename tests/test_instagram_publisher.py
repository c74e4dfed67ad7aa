"""The Instagram publisher against a fake Instagram: login, the saved session, upload, result."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import struct
import time
from pathlib import Path

import anyio
import pytest
from PIL import Image
from structlog.testing import capture_logs

from tests.fakes.instagram import (
    LOGIN_ENDPOINTS,
    PASSWORD,
    UPLOAD_ENDPOINTS,
    USER_ID,
    FakeInstagram,
    fake_fixture,  # noqa: F401 - a pytest fixture
    form,
    instagram_publisher,
    make_post,
    offline_fixture,  # noqa: F401 - a pytest fixture
)
from tests.fakes.instagram.network import Sleeps

FIRST_LOGIN = [*LOGIN_ENDPOINTS, "reels_tray", "timeline"]
RELOGIN = FIRST_LOGIN[1:]  # the same device: its key ("usdid") is registered already
SEED = "JBSW Y3DP EHPK 3PXP"  # an authentication app's key, as apps show it


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def json_files_in(folder: Path) -> list[str]:
    """The text of every JSON file under `folder` (state files, sessions)."""
    return [path.read_text() for path in folder.rglob("*.json") if path.is_file()]


def session_file(state: Path) -> Path:
    return state / "instagram" / "dropcast.test.json"


async def test_first_post_logs_in_then_uploads_and_configures(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """With no saved session, the publisher logs in, uploads the photo and configures the post."""
    result = await instagram_publisher(state).publish(make_post(tmp_path / "inbox"))
    assert result.ok, result.error
    assert fake.names == [*FIRST_LOGIN, *UPLOAD_ENDPOINTS]


async def test_result_records_the_media_code_and_its_url(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """The result's id is the media code and its url the post's page."""
    result = await instagram_publisher(state).publish(make_post(tmp_path / "inbox"))
    assert result.remote_id == "DCfakeCODE1"
    assert result.url == "https://www.instagram.com/p/DCfakeCODE1/"


async def test_login_saves_the_session_readable_by_its_owner_only(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """The session goes to state/instagram/<username>.json with mode 0600."""
    await instagram_publisher(state).publish(make_post(tmp_path / "inbox"))
    saved = session_file(state)
    assert saved.stat().st_mode & 0o777 == 0o600
    assert json.loads(saved.read_text())["authorization_data"]["ds_user_id"] == USER_ID


async def test_a_new_publisher_reuses_the_saved_session_without_logging_in(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """After a restart (a new publisher), the saved session is used: no login request at all."""
    await instagram_publisher(state).publish(make_post(tmp_path / "inbox", "first"))
    fake.calls.clear()
    result = await instagram_publisher(state).publish(make_post(tmp_path / "inbox", "second"))
    assert result.ok, result.error
    assert fake.names == list(UPLOAD_ENDPOINTS)


async def test_the_configured_transport_wins_over_the_one_saved_with_the_session(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """A session saved under another transport is used with the transport the config names."""
    await instagram_publisher(state).publish(make_post(tmp_path / "inbox", "first"))
    saved = json.loads(session_file(state).read_text())
    session_file(state).write_text(json.dumps({**saved, "private_transport": "curl"}))
    result = await instagram_publisher(state).publish(make_post(tmp_path / "inbox", "second"))
    assert result.ok, result.error  # curl would have been refused by the network guard


async def test_an_unreadable_session_is_replaced_by_a_new_login(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """A damaged session file is logged and set aside: the publisher logs in and saves a new one."""
    session_file(state).parent.mkdir(parents=True)
    session_file(state).write_text("{half a sess")
    with capture_logs() as logs:
        result = await instagram_publisher(state).publish(make_post(tmp_path))
    assert result.ok, result.error
    assert "instagram.session_discarded" in [event["event"] for event in logs]
    assert "login" in fake.names
    assert json.loads(session_file(state).read_text())["authorization_data"]


async def test_a_post_instagram_accepts_without_sending_it_back_is_ok_with_the_profile_url(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """If configure succeeds but returns no media, the post counts as made (never sent twice)."""
    fake.reply("configure", 200, {"status": "ok"})
    with capture_logs() as logs:
        result = await instagram_publisher(state).publish(make_post(tmp_path))
    assert (result.ok, result.remote_id) == (True, None)
    assert result.url == "https://www.instagram.com/dropcast.test/"
    assert "instagram.post_unconfirmed" in [event["event"] for event in logs]


async def test_login_required_on_upload_logs_in_again_once_and_posts(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """An expired session (login_required) is renewed by one login, then the post goes through."""
    await instagram_publisher(state).publish(make_post(tmp_path / "inbox", "first"))
    fake.calls.clear()
    fake.reply("configure", 403, "login_required.json")
    result = await instagram_publisher(state).publish(make_post(tmp_path / "inbox", "second"))
    assert result.ok, result.error
    assert fake.names == [*UPLOAD_ENDPOINTS, *RELOGIN, *UPLOAD_ENDPOINTS]


async def test_logging_in_again_keeps_the_same_device(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """The second login presents the device of the saved session, not a new phone."""
    await instagram_publisher(state).publish(make_post(tmp_path / "inbox", "first"))
    device_before = json.loads(session_file(state).read_text())["uuids"]
    fake.reply("rupload", 403, "login_required.json")
    await instagram_publisher(state).publish(make_post(tmp_path / "inbox", "second"))
    assert json.loads(session_file(state).read_text())["uuids"] == device_before


async def test_login_required_after_logging_in_again_fails_without_a_third_login(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """If the post is refused with login_required even after a fresh login, it fails; one login only."""
    await instagram_publisher(state).publish(make_post(tmp_path / "inbox", "first"))
    fake.calls.clear()
    fake.reply("configure", 403, "login_required.json", times=2)
    result = await instagram_publisher(state).publish(make_post(tmp_path / "inbox", "second"))
    assert not result.ok
    assert fake.names.count("login") == 1


def totp(seed: str, moment: float) -> str:
    """RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 seed at `moment`."""
    import base64

    key = base64.b32decode(seed.replace(" ", "").upper())
    digest = hmac.new(key, struct.pack(">Q", int(moment // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


async def test_two_factor_login_sends_the_code_made_from_totp_seed(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """With totp_seed, the two-factor step gets the current code of that key and the post goes."""
    fake.reply("login", 200, "login_two_factor.json")
    started = time.time()
    result = await instagram_publisher(state, totp_seed=SEED).publish(make_post(tmp_path))
    finished = time.time()
    assert result.ok, result.error
    sent = json.loads(form(fake.requests_to("two_factor_verify")[0])["params"])
    assert sent["client_input_params"]["code"] in {totp(SEED, started), totp(SEED, finished)}


async def test_two_factor_without_a_seed_fails_and_says_to_set_one(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """An account with two-factor on and no totp_seed fails with advice to set totp_seed."""
    fake.reply("login", 200, "login_two_factor.json")
    result = await instagram_publisher(state).publish(make_post(tmp_path))
    assert not result.ok
    assert result.error is not None
    assert "set totp_seed" in result.error
    assert "rupload" not in fake.names


async def test_a_refused_login_is_not_tried_again_until_the_settings_change(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """After Instagram refuses the login, the next post makes no request; new settings try again."""
    fake.reply("login", 200, "bloks_empty.json")  # a login reply without a session
    publisher = instagram_publisher(state)
    first = await publisher.publish(make_post(tmp_path, "first"))
    fake.calls.clear()
    second = await publisher.publish(make_post(tmp_path, "second"))
    assert first.error is not None
    assert "did not accept the login" in first.error
    assert (second.ok, second.error, fake.names) == (False, first.error, [])
    fixed = await instagram_publisher(state, password="a-new-password").publish(
        make_post(tmp_path, "third")
    )
    assert fixed.ok, fixed.error


async def test_the_caption_sent_is_the_instagram_caption_from_the_front_matter(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """A per-post Instagram caption in the front matter is the one configured."""
    caption = "---\ncaptions: {instagram: 'Only for Instagram #sea'}\n---\nFor everyone else"
    await instagram_publisher(state).publish(make_post(tmp_path, caption=caption))
    assert form(fake.requests_to("configure")[0])["caption"] == "Only for Instagram #sea"


async def test_a_long_caption_is_truncated_before_it_is_sent(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """Under too_long: truncate, a 2,500-character caption reaches Instagram cut to 2,200."""
    caption = " ".join(f"word{n:04d}" for n in range(300))[:2500]
    result = await instagram_publisher(state).publish(make_post(tmp_path, caption=caption))
    sent = form(fake.requests_to("configure")[0])["caption"]
    assert result.ok, result.error
    assert len(sent) <= 2200
    assert sent.endswith("…")


async def test_a_post_that_fits_as_it_is_has_no_notes(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """A square photo with a short caption goes as it is: nothing to tell the owner."""
    result = await instagram_publisher(state).publish(make_post(tmp_path))
    assert result.ok, result.error
    assert result.notes == ()


async def test_a_shortened_caption_and_a_reshaped_image_are_noted_in_the_result(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """The result's notes say how far the caption was cut and how the photo was made to fit."""
    image = tmp_path / "tall.png"
    Image.new("RGB", (1080, 2400), (10, 20, 30)).save(image, "PNG")
    caption = " ".join(f"word{n:04d}" for n in range(300))[:2500] + " #one #two #three"
    post = make_post(tmp_path, "tall", caption=caption, image=image)
    result = await instagram_publisher(state, max_hashtags=1).publish(post)
    assert result.ok, result.error
    assert result.notes == (
        "2 of 3 hashtags dropped from the caption (max_hashtags: 1)",
        "caption cut from 2,517 to 2,196 characters at a word boundary, ending in … "
        "(max_caption_chars: 2,200)",
        "image padded with white bars at the sides to Instagram's tallest shape, 4:5",
        "image resized to 1440x1800 pixels (the original is 1080x2400; Instagram takes 320 "
        "to 1440 pixels wide)",
    )


async def test_a_long_caption_under_fail_makes_no_request(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """Under too_long: fail, a caption over the limit fails with the overage and nothing is sent."""
    caption = " ".join(f"word{n:04d}" for n in range(300))[:2500]
    publisher = instagram_publisher(state, too_long="fail")
    result = await publisher.publish(make_post(tmp_path, caption=caption))
    assert not result.ok
    assert result.error is not None
    assert "300 over the limit of 2,200" in result.error
    assert fake.names == []


async def test_the_uploaded_bytes_are_the_prepared_jpeg_and_its_true_size_is_configured(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """A tall PNG goes up as a 1440x1800 JPEG, and configure reports exactly that size."""
    image = tmp_path / "tall.png"
    Image.new("RGBA", (1080, 2400), (10, 20, 30, 128)).save(image, "PNG")
    await instagram_publisher(state).publish(make_post(tmp_path, "tall", image=image))
    body = fake.requests_to("rupload")[0].body
    assert isinstance(body, bytes)
    uploaded = Image.open(io.BytesIO(body))
    configured = form(fake.requests_to("configure")[0])
    assert (uploaded.format, uploaded.size) == ("JPEG", (1440, 1800))
    assert configured["extra"] == {"source_width": 1440, "source_height": 1800}


async def test_the_original_image_is_left_untouched(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """Publishing never writes to the post's own files."""
    post = make_post(tmp_path)
    before = [path.read_bytes() for path in post.files]
    await instagram_publisher(state).publish(post)
    assert [path.read_bytes() for path in post.files] == before


async def test_delay_range_is_handed_to_instagrapi(
    fake: FakeInstagram, state: Path, tmp_path: Path, sleeps: Sleeps
) -> None:
    """instagrapi pauses between requests for a time drawn from delay_range."""
    await instagram_publisher(state, delay_range=(2, 4)).publish(make_post(tmp_path))
    assert [s for s in sleeps.seconds if 2 <= s <= 4], sleeps.seconds


async def test_an_attempt_given_up_during_login_never_posts_afterwards(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """When the daemon gives up on an attempt (its timeout), the worker thread stops before uploading."""
    fake.delay("login", 0.5)
    publisher = instagram_publisher(state)
    with anyio.move_on_after(0.1):
        await publisher.publish(make_post(tmp_path))
    # The given-up attempt returns at once now; its thread finishes the login meanwhile.
    await publisher.close()  # waits for that thread, before the fake goes away
    assert "login" in fake.names  # the thread did get that far,
    assert "rupload" not in fake.names  # and went no further


async def test_the_password_never_reaches_a_log_an_error_or_a_state_file(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """Across a login, a refused login and a challenge, the password appears nowhere we write."""
    with capture_logs() as logs:
        ok = await instagram_publisher(state).publish(make_post(tmp_path, "a"))
        fake.reply("configure", 400, "challenge_required.json")
        paused = await instagram_publisher(state).publish(make_post(tmp_path, "b"))
        fake.reply("login", 200, "bloks_empty.json")
        refused = await instagram_publisher(tmp_path / "other").publish(make_post(tmp_path, "c"))
    written = json_files_in(tmp_path)
    everything = repr([logs, ok, paused, refused, written])
    assert refused.error
    assert paused.error
    assert PASSWORD not in everything
