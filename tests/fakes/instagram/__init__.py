"""A fake Instagram private API for `responses`, with canned replies in `replies/`.

`FakeInstagram` registers every endpoint the Instagram publisher touches (the current
Android "CAA" login, its two-factor steps, the photo upload and configure, the account
check, the account's own recent posts). Each endpoint answers with its canned success reply
unless a test queued another reply with `FakeInstagram.reply` (or an exception with
`FakeInstagram.fail`). A carousel's configure (`configure_sidecar`) is answered from what
was uploaded (see `tests.fakes.instagram.sidecar`): refused as Instagram refuses it, or a
carousel post with a new code each time. Every request is recorded by endpoint name, so a test
can say which requests were made, or that none was. A URL no endpoint matches is refused
by `responses` (its default); `unmatched()` lists such requests so a test can fail on them.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from PIL import Image

from daemon.post import Post, read_post
from daemon.progress import ProgressStore
from daemon.publisher import PublisherContext
from daemon.publishers.instagram import InstagramPublisher, InstagramSettings
from tests.fakes.instagram.network import Sleeps, refuse_network, skip_instagrapi_sleeps
from tests.fakes.instagram.sidecar import Carousels

REPLIES = Path(__file__).parent / "replies"
USERNAME = "dropcast.test"
PASSWORD = "correct-horse-battery-staple-7"
USER_ID = "4242424242"
SESSION_ID = f"{USER_ID}%3AfakeSession%3A27%3AAYfakefakefake"

_I = r"https://i\.instagram\.com"
_BI = r"https://b\.i\.instagram\.com"
_ANY = r"https://(?:b\.)?i\.instagram\.com"
_ASYNC = _ANY + r"/api/v1/bloks/async_action/com\.bloks\.www\."
_APPS = _ANY + r"/api/v1/bloks/apps/com\.bloks\.www\."


@dataclass(frozen=True)
class Endpoint:
    method: str
    url: str  # a regular expression matched against the whole URL
    reply: str | None  # the canned success reply in replies/, or None for a built one


ENDPOINTS: dict[str, Endpoint] = {
    "password_key": Endpoint("GET", _I + r"/api/v1/qe/sync/", None),
    "usdid": Endpoint("POST", _BI + r"/graphql_www", "usdid_registration.json"),
    "login_home": Endpoint(
        "POST", _ASYNC + r"bloks\.caa\.login\.process_client_data_and_redirect/", "caa_home.json"
    ),
    "attestation": Endpoint(
        "POST", _ANY + r"/api/v1/attestation/create_android_keystore/", "attestation.json"
    ),
    "oauth_token": Endpoint("POST", _ASYNC + r"caa\.login\.oauth\.token\.fetch\.async/", None),
    "login": Endpoint("POST", _ASYNC + r"bloks\.caa\.login\.async\.send_login_request/", None),
    "two_factor_entry": Endpoint("POST", _APPS + r"two_step_verification\.entrypoint/", None),
    "two_factor_picker": Endpoint("POST", _APPS + r"two_step_verification\.method_picker/", None),
    "two_factor_method": Endpoint(
        "POST", _ASYNC + r"two_step_verification\.method_picker\.navigation\.async/", None
    ),
    "two_factor_verify": Endpoint(
        "POST", _ASYNC + r"two_step_verification\.verify_code\.async/", None
    ),
    "code_challenge_entry": Endpoint(
        "POST",
        _ASYNC + r"ap\.two_step_verification\.entrypoint_async/",
        "code_challenge_entry.json",
    ),
    "code_challenge_screen": Endpoint(
        "POST", _APPS + r"ap\.two_step_verification\.code_entry/", "code_challenge_screen.json"
    ),
    "reels_tray": Endpoint("POST", _I + r"/api/v1/feed/reels_tray/", "reels_tray.json"),
    "timeline": Endpoint("POST", _I + r"/api/v1/feed/timeline/", "timeline.json"),
    "current_user": Endpoint(
        "GET", _I + r"/api/v1/accounts/current_user/\?edit=true", "current_user.json"
    ),
    "rupload": Endpoint("POST", _I + r"/rupload_igphoto/[0-9]+_0_[0-9]+", "rupload.json"),
    "configure": Endpoint("POST", _I + r"/api/v1/media/configure/", "configure.json"),
    "configure_sidecar": Endpoint("POST", _I + r"/api/v1/media/configure_sidecar/", None),
    "user_feed": Endpoint("GET", _I + r"/api/v1/feed/user/[0-9]+/\?.*", "user_feed.json"),
}
LOGIN_ENDPOINTS = ("usdid", "login_home", "attestation", "oauth_token", "password_key", "login")
UPLOAD_ENDPOINTS = ("rupload", "configure")


def instagram_settings(**overrides: Any) -> InstagramSettings:
    """Settings for the fake account: the requests transport (so `responses` sees it), no delays."""
    values: dict[str, Any] = {
        "enabled": True,
        "username": USERNAME,
        "password": PASSWORD,
        "transport": "requests",
        "delay_range": (0, 0),
        "min_interval_seconds": 0,
        "request_timeout": 5,
    }
    return InstagramSettings.model_validate({**values, **overrides})


def instagram_publisher(
    state_dir: Path, progress: ProgressStore | None = None, **overrides: Any
) -> InstagramPublisher:
    """A publisher for the fake account, keeping its state in `state_dir` (and `progress`)."""
    context = PublisherContext(state_dir)
    if progress is not None:
        context = PublisherContext(state_dir, progress)
    return InstagramPublisher(instagram_settings(**overrides), context)


def make_post(
    folder: Path, stem: str = "sunset", caption: str = "Red sky tonight", image: Path | None = None
) -> Post:
    """A post read from real files in `folder` (a 1080x1080 JPEG unless `image` is given)."""
    folder.mkdir(parents=True, exist_ok=True)
    if image is None:
        image = folder / f"{stem}.jpg"
        Image.new("RGB", (1080, 1080), (200, 120, 40)).save(image, "JPEG")
    caption_file = folder / f"{stem}.txt"
    caption_file.write_text(caption, encoding="utf-8")
    return read_post(stem, image, caption_file)


async def state_with_saved_session(tmp_path: Path, fake: FakeInstagram) -> Path:
    """A state folder with a saved session (one post made), and the fake's record cleared."""
    folder = tmp_path / "state"
    await instagram_publisher(folder).publish(make_post(tmp_path / "setup", "setup"))
    (folder / "instagram" / "dropcast.test.limits.json").unlink()
    fake.calls.clear()
    return folder


def form(request: requests.PreparedRequest) -> dict[str, Any]:
    """The fields of a signed instagrapi POST (`signed_body=SIGNATURE.{json}`) or a plain form."""
    body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
    fields = {key: values[0] for key, values in parse_qs(body).items()}
    signed = fields.get("signed_body", "")
    if signed.startswith("SIGNATURE."):
        parsed: dict[str, Any] = json.loads(signed.removeprefix("SIGNATURE."))
        return parsed
    return fields


def canned(name: str) -> Any:
    """A canned reply from replies/, parsed."""
    return json.loads((REPLIES / name).read_text(encoding="utf-8"))


def feed_with(*posts: tuple[str, str], media_type: int = 1) -> dict[str, Any]:
    """The account's recent posts: `posts` (code, caption), newest first, then the canned ones;
    `media_type` 8 makes them carousels (the feed gives their caption as a photo's)."""
    feed: dict[str, Any] = canned("user_feed.json")
    newest = [
        {
            "taken_at": int(time.time()) - index,
            "pk": f"35120000000000000{index:02d}",
            "id": f"35120000000000000{index:02d}_{USER_ID}",
            "code": code,
            "media_type": media_type,
            "caption": {"pk": f"179000000000000{index:02d}", "text": caption},
            "user": {"pk": USER_ID, "username": USERNAME},
        }
        for index, (code, caption) in enumerate(posts)
    ]
    feed["items"] = newest + feed["items"]
    feed["num_results"] = len(feed["items"])
    return feed


def authorization_header(user_id: str = USER_ID, session_id: str = SESSION_ID) -> str:
    """The `IG-Set-Authorization` value Instagram sends after a login."""
    payload = json.dumps({"ds_user_id": user_id, "sessionid": session_id})
    return "Bearer IGT:2:" + base64.b64encode(payload.encode()).decode()


def logged_in_reply() -> dict[str, Any]:
    """A Bloks reply whose action carries an embedded login response, as a login success has."""
    embedded = {
        "login_response": json.dumps(canned("logged_in_user.json")),
        "headers": json.dumps({"IG-Set-Authorization": authorization_header()}),
        "cookies": f"Set-Cookie: sessionid={SESSION_ID}; csrftoken=fakecsrftoken",
    }
    action = f"(bk.action.caa.HandleLoginResponse, {json.dumps(json.dumps(embedded))})"
    return {"layout": {"bloks_payload": {"data": [], "tree": {}, "action": action}}, "status": "ok"}


def _default_reply(name: str) -> tuple[int, Any]:
    if name in ("login", "two_factor_verify"):
        return 200, logged_in_reply()
    if name == "password_key":
        return 200, {"status": "ok"}
    reply = ENDPOINTS[name].reply
    return 200, canned(reply) if reply else canned("bloks_empty.json")


@dataclass
class FakeInstagram:
    """Canned Instagram endpoints on a `responses` mock, recording what was asked of them."""

    mock: responses.RequestsMock
    calls: list[tuple[str, requests.PreparedRequest]] = field(default_factory=list)
    _queued: defaultdict[str, deque[tuple[int, Any] | Exception]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    _delays: dict[str, float] = field(default_factory=dict)
    _holds: dict[str, threading.Event] = field(default_factory=dict)
    carousels: Carousels = field(default_factory=Carousels)
    _fail_at: dict[str, tuple[int, Exception]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, endpoint in ENDPOINTS.items():
            self.mock.add_callback(
                endpoint.method, re.compile(endpoint.url + "$"), callback=self._answer(name)
            )

    def delay(self, name: str, seconds: float) -> None:
        """Make endpoint `name` take `seconds` to answer (a slow Instagram)."""
        self._delays[name] = seconds

    def hold(self, name: str) -> threading.Event:
        """Make endpoint `name` answer only once the returned event is set (at most 10 s on)."""
        self._holds[name] = threading.Event()
        return self._holds[name]

    def reply(self, name: str, status: int, body: str | dict[str, Any], times: int = 1) -> None:
        """Make the next `times` requests to endpoint `name` get this reply (a file in replies/, or a dict)."""
        assert name in ENDPOINTS, name
        payload = canned(body) if isinstance(body, str) else body
        self._queued[name].extend([(status, payload)] * times)

    def fail(self, name: str, error: Exception) -> None:
        """Make the next request to endpoint `name` raise `error` (a timeout, a reset) instead."""
        assert name in ENDPOINTS, name
        self._queued[name].append(error)

    def fail_after(self, name: str, count: int, error: Exception) -> None:
        """Let the next `count` requests to endpoint `name` be answered, then raise `error`."""
        assert name in ENDPOINTS, name
        self._fail_at[name] = (len(self.requests_to(name)) + count + 1, error)

    @property
    def names(self) -> list[str]:
        """The endpoints called, in order."""
        return [name for name, _ in self.calls]

    def requests_to(self, name: str) -> list[requests.PreparedRequest]:
        return [request for called, request in self.calls if called == name]

    def unmatched(self) -> list[str]:
        """Requests `responses` refused because no endpoint matched them."""
        return [
            f"{call.request.method} {call.request.url}"
            for call in self.mock.calls
            if isinstance(call.response, requests.ConnectionError)
            and "Connection refused by Responses" in str(call.response)
        ]

    def _answer(self, name: str) -> Any:
        def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            self.calls.append((name, request))
            due, error = self._fail_at.get(name, (0, None))
            if error is not None and len(self.requests_to(name)) == due:
                del self._fail_at[name]
                raise error
            time.sleep(self._delays.get(name, 0))  # the fake's own time, not instagrapi's
            if name in self._holds:
                self._holds[name].wait(timeout=10)
            queued = self._queued[name]
            answer = queued.popleft() if queued else self._default(name, request)
            if isinstance(answer, Exception):
                raise answer
            status, payload = answer
            headers = {"Content-Type": "application/json"}
            if name == "password_key":  # the key instagrapi encrypts the password with
                headers["ig-set-password-encryption-key-id"] = "41"
                headers["ig-set-password-encryption-pub-key"] = base64.b64encode(
                    (REPLIES / "password_key.pem").read_bytes()
                ).decode()
            return status, headers, json.dumps(payload)

        return answer

    def _default(self, name: str, request: requests.PreparedRequest) -> tuple[int, Any]:
        """The endpoint's own answer: canned, or (for a carousel) built from the uploads."""
        if name == "rupload":
            self.carousels.uploaded(request)
        if name == "configure_sidecar":
            return self.carousels.configure(form(request))
        return _default_reply(name)


# The platform's config section for a daemon run against the fake (the password from the
# environment, as an owner would give it).
DAEMON_SETTINGS = {
    "enabled": True,
    "username": USERNAME,
    "password": "${INSTAGRAM_PASSWORD}",
    "transport": "requests",
    "delay_range": [0, 0],
    "request_timeout": 5,
}


@contextmanager
def offline_instagram(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeInstagram]:
    """The fake behind instagrapi, with every other host refused and instagrapi's sleeps skipped."""
    refuse_network(monkeypatch)
    skip_instagrapi_sleeps(monkeypatch)
    with fake_instagram() as fake:
        yield fake


@contextmanager
def fake_instagram() -> Iterator[FakeInstagram]:
    """A `responses` mock with every Instagram endpoint registered; fails the test on unmatched requests."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeInstagram(mock)
        yield fake
        assert fake.unmatched() == [], "requests no fake endpoint answers"


# Fixtures for the Instagram test modules, which import them by these function names (each
# is registered under its `name`, the one tests ask for).


@pytest.fixture(name="sleeps", autouse=True)
def offline_fixture(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    """No network beyond this machine, and instagrapi's sleeps recorded instead of slept."""
    refuse_network(monkeypatch)
    return skip_instagrapi_sleeps(monkeypatch)


@pytest.fixture(name="fake")
def fake_fixture() -> Iterator[FakeInstagram]:
    """The fake Instagram (`fake_instagram`), for the whole test."""
    with fake_instagram() as fake:
        yield fake


@pytest.fixture(name="state")
async def saved_state_fixture(tmp_path: Path, fake: FakeInstagram) -> Path:
    """A state folder with a saved session (`state_with_saved_session`)."""
    return await state_with_saved_session(tmp_path, fake)
