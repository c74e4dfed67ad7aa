"""A fake Mastodon server: a real aiohttp server on a loopback port, driven through Mastodon.py.

It answers what dropcast uses of the REST API as Mastodon 4.3 documents it and refuses what
Mastodon refuses, with Mastodon's words:
- `GET /api/v1/instance` and `/api/v2/instance` (no token needed) with the limits in
  `configuration` (`max_characters`, `characters_reserved_per_url`, `max_media_attachments`,
  `image_size_limit`, `image_matrix_limit`, `description_limit`, `supported_mime_types`);
- every other call only with `Authorization: Bearer <token>` (401 otherwise);
- `POST /api/v2/media`: the file's type, bytes and pixels and the description's length are
  checked; an upload may stay processing (202, `url: null`) for some looks at
  `GET /api/v1/media/:id` (206 while processing);
- `POST /api/v1/statuses`: an `Idempotency-Key` seen before answers the status it made; the
  length is counted as Mastodon does (graphemes, the content warning included, each link as
  `characters_reserved_per_url`, a remote mention as its `@name`); media must be the
  account's, unattached and processed (422 "not finished processing" otherwise), at most
  `max_media_attachments`; `in_reply_to_id` must exist;
- `GET /api/v1/accounts/verify_credentials` and `/api/v1/accounts/:id/statuses`;
- `X-RateLimit-Limit`, `-Remaining` and `-Reset` on every answer, and 429 once the window's
  requests are spent.
It can be told to answer a status slowly (it posts it, then answers too late) or to refuse
one with a stale 422 "not finished processing", and it records every request.
"""

from __future__ import annotations

import asyncio
import html
import io
import itertools
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import regex
from aiohttp import web
from PIL import Image

from daemon.progress import ProgressStore
from daemon.publisher import PublisherContext
from daemon.publishers.mastodon import MastodonPublisher, MastodonSettings
from tests.fakes.loopback import served

TOKEN = "fake-mastodon-token-Zq81xT0kLmN4"
ACCOUNT = {"id": "109", "username": "alice", "acct": "alice", "display_name": "Alice"}
NOT_READY = "Cannot attach files that have not finished processing. Try again in a moment!"
_PUBLIC = ("/api/v1/instance", "/api/v2/instance")
_FORMATS = {"image/jpeg": {"JPEG", "MPO"}, "image/png": {"PNG"}, "image/webp": {"WEBP"}}
_GRAPHEME = regex.compile(r"\X")
_LINK = re.compile(r"https?://[^\s<>\"']+?(?=[.,;:!?)\]'\"]*(?:\s|$))")
_REMOTE_MENTION = re.compile(r"(?<![\w@/])@([A-Za-z0-9_]+)@[A-Za-z0-9.-]+[A-Za-z0-9]")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Limits:
    max_characters: int = 500
    characters_reserved_per_url: int = 23
    max_media_attachments: int = 4
    image_size_limit: int = 16_777_216
    image_matrix_limit: int = 33_177_600
    description_limit: int = 1_500
    supported_mime_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp")


@dataclass
class Call:
    """One request as the fake received it, and how it answered."""

    method: str
    path: str
    status: int = 0


@dataclass
class FakeMastodon:
    token: str = TOKEN
    limits: Limits = field(default_factory=Limits)
    url: str = ""
    calls: list[Call] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)  # each media id's file
    idempotency: dict[str, str] = field(default_factory=dict)  # key -> status id
    processing_looks: int = 0  # how many GETs an upload stays processing for
    rate_budget: int = 300  # requests per window
    rate_window: float = 300.0
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    _slow: list[float] = field(default_factory=list)  # delays for the next statuses
    _stale: int = 0  # statuses to refuse with a stale "not finished processing"
    _window: tuple[float, int] = (0.0, 0)  # (when it ends, requests made in it)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(110_000))

    def slow_status(self, seconds: float, times: int = 1, after: int = 0) -> None:
        """After `after` statuses answered at once, the next `times` are posted and answered
        only after `seconds`."""
        self._slow.extend([0.0] * after + [seconds] * times)

    def stale_processing(self, times: int = 1) -> None:
        """The next `times` statuses are refused as if their media were still processing."""
        self._stale += times

    def posted(self) -> list[dict[str, Any]]:
        """The statuses made, oldest first."""
        return list(self.statuses)

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for c in self.calls if c.method == method and c.path.startswith(path_prefix))

    def text_of(self, status: dict[str, Any]) -> str:
        return str(status["_text"])

    # --- Rules ----------------------------------------------------------------------------

    def status_length(self, text: str, spoiler: str) -> int:
        """Mastodon's StatusLengthValidator: the warning and the text, in graphemes."""
        placeholder = "x" * self.limits.characters_reserved_per_url
        counted = _LINK.sub(placeholder, text)
        counted = _REMOTE_MENTION.sub(lambda m: "@" + m.group(1), counted)
        return len(_GRAPHEME.findall(spoiler + counted))

    def rate_headers(self) -> tuple[dict[str, str], bool]:
        """This request's rate-limit headers, and whether the window is spent."""
        now = time.time()
        ends, used = self._window
        if now >= ends:
            ends, used = now + self.rate_window, 0
        spent = used >= self.rate_budget
        used = used if spent else used + 1
        self._window = (ends, used)
        reset = datetime.fromtimestamp(ends, UTC).isoformat(timespec="milliseconds")
        headers = {
            "X-RateLimit-Limit": str(self.rate_budget),
            "X-RateLimit-Remaining": str(max(0, self.rate_budget - used)),
            "X-RateLimit-Reset": reset.replace("+00:00", "Z"),
        }
        return headers, spent


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


_MENTION = re.compile(r"(?<![\w@/])@(\w+)@([\w.-]+\w)")


def _content_html(text: str) -> str:
    """The HTML Mastodon makes of a plain-text status: paragraphs, line breaks, links."""

    def link(match: re.Match[str]) -> str:
        url = match.group()
        scheme, rest = url.split("://", 1)
        return (
            f'<a href="{url}" rel="nofollow noopener" target="_blank">'
            f'<span class="invisible">{scheme}://</span><span class="">{rest}</span></a>'
        )

    def mention(match: re.Match[str]) -> str:  # a resolved account shows as @name only
        name, server = match.group(1), match.group(2)
        return (
            f'<span class="h-card"><a href="https://{server}/@{name}" class="u-url mention">'
            f"@<span>{name}</span></a></span>"
        )

    paragraphs = [p for p in re.split(r"\n{2,}", text.strip()) if p]
    rendered = []
    for paragraph in paragraphs:
        escaped = _MENTION.sub(mention, _LINK.sub(link, html.escape(paragraph, quote=False)))
        rendered.append("<p>" + escaped.replace("\n", "<br />") + "</p>")
    return "".join(rendered)


def _instance(fake: FakeMastodon, version: int) -> dict[str, Any]:
    limits = fake.limits
    configuration = {
        "statuses": {
            "max_characters": limits.max_characters,
            "max_media_attachments": limits.max_media_attachments,
            "characters_reserved_per_url": limits.characters_reserved_per_url,
        },
        "media_attachments": {
            "supported_mime_types": list(limits.supported_mime_types),
            "image_size_limit": limits.image_size_limit,
            "image_matrix_limit": limits.image_matrix_limit,
            "description_limit": limits.description_limit,
            "video_size_limit": 103_809_024,
        },
    }
    if version == 1:
        return {"uri": "fake.example", "title": "Fake", "version": "4.3.0"}
    return {
        "domain": "fake.example",
        "title": "Fake",
        "version": "4.3.0",
        "api_versions": {"mastodon": 2},
        "configuration": configuration,
    }


# --- Handlers ---------------------------------------------------------------------------


def _middleware(fake: FakeMastodon) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        call = Call(request.method, request.path)
        fake.calls.append(call)
        headers, spent = fake.rate_headers()
        response: web.StreamResponse
        if spent:
            response = _error(429, "Too many requests")
        elif not request.path.rstrip("/").startswith(_PUBLIC) and (
            request.headers.get("Authorization") != f"Bearer {fake.token}"
        ):
            response = _error(401, "The access token is invalid")
        else:
            response = await handler(request)
        response.headers.update(headers)
        call.status = response.status
        return response

    return middleware


async def _handle_upload(fake: FakeMastodon, request: web.Request) -> web.Response:
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return _error(422, "Validation failed: File can't be blank")
    data = upload.file.read()
    refusal = _media_refusal(
        fake.limits, upload.content_type, data, str(form.get("description") or "")
    )
    if refusal is not None:
        return _error(422, refusal)
    media_id = str(next(fake._ids))
    processing = fake.processing_looks
    fake.uploads[media_id] = data
    fake.media[media_id] = {
        "id": media_id,
        "type": "image",
        "url": None if processing else f"{fake.url}/media/{media_id}.jpg",
        "preview_url": f"{fake.url}/media/{media_id}-small.jpg",
        "description": form.get("description") or None,
        "_looks_left": processing,
        "_attached": False,
    }
    return web.json_response(_public(fake.media[media_id]), status=202 if processing else 200)


def _media_refusal(limits: Limits, mime_type: str, data: bytes, description: str) -> str | None:
    if mime_type not in limits.supported_mime_types:
        return f"Validation failed: File content type {mime_type} is not supported"
    if len(data) > limits.image_size_limit:
        megabytes = limits.image_size_limit // (1024 * 1024)
        return f"Validation failed: File file size must be less than {megabytes} MB"
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format, pixels = image.format, image.width * image.height
            image.load()
    except Exception:
        return "Validation failed: File could not be processed"
    if image_format not in _FORMATS.get(mime_type, set()):
        return "Validation failed: File has contents that are not what they are reported to be"
    if pixels > limits.image_matrix_limit:
        return "Validation failed: File dimensions are too large"
    if len(description) > limits.description_limit:
        return (
            "Validation failed: Description is too long (maximum is "
            f"{limits.description_limit} characters)"
        )
    return None


def _public(entity: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entity.items() if not key.startswith("_")}


async def _handle_media(fake: FakeMastodon, request: web.Request) -> web.Response:
    media = fake.media.get(request.match_info["id"])
    if media is None:
        return _error(404, "Record not found")
    if media["_looks_left"] > 0:
        media["_looks_left"] -= 1
        return web.json_response(_public(media), status=206)
    media["url"] = f"{fake.url}/media/{media['id']}.jpg"
    return web.json_response(_public(media))


async def _handle_status(fake: FakeMastodon, request: web.Request) -> web.Response:
    form = await request.post()
    key = request.headers.get("Idempotency-Key")
    if key is not None and key in fake.idempotency:
        made = next(s for s in fake.statuses if s["id"] == fake.idempotency[key])
        return web.json_response(_public(made))
    fields = {
        name: str(form.get(name) or "") for name in ("status", "spoiler_text", "in_reply_to_id")
    }
    media_ids = [str(value) for value in form.getall("media_ids[]", [])]
    refusal = _status_refusal(fake, fields, media_ids, str(form.get("visibility") or "public"))
    if refusal is not None:
        return refusal
    status = _make_status(fake, fields, media_ids, form)
    if key is not None:
        fake.idempotency[key] = status["id"]
    delay = fake._slow.pop(0) if fake._slow else 0.0
    if delay > 0:
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(fake.closing.wait(), delay)
    return web.json_response(_public(status))


def _status_refusal(
    fake: FakeMastodon, fields: dict[str, str], media_ids: list[str], visibility: str
) -> web.Response | None:
    limits = fake.limits
    if visibility not in ("public", "unlisted", "private", "direct"):
        return _error(422, "Validation failed: Visibility is not included in the list")
    if len(media_ids) > limits.max_media_attachments:
        return _error(422, f"Cannot attach more than {limits.max_media_attachments} files")
    for media_id in media_ids:
        media = fake.media.get(media_id)
        if media is None or media["_attached"]:
            return _error(422, "Validation failed: Media attachments are invalid")
        if media["url"] is None or media["_looks_left"] > 0:
            return _error(422, NOT_READY)
    if fake._stale:
        fake._stale -= 1
        return _error(422, NOT_READY)
    if not fields["status"].strip() and not media_ids:
        return _error(422, "Validation failed: Text can't be blank")
    if fake.status_length(fields["status"], fields["spoiler_text"]) > limits.max_characters:
        return _error(
            422, f"Validation failed: Text character limit of {limits.max_characters} exceeded"
        )
    reply_to = fields["in_reply_to_id"]
    if reply_to and not any(s["id"] == reply_to for s in fake.statuses):
        return _error(404, "Record not found")
    return None


def _make_status(
    fake: FakeMastodon, fields: dict[str, str], media_ids: list[str], form: Any
) -> dict[str, Any]:
    status_id = str(next(fake._ids))
    for media_id in media_ids:
        fake.media[media_id]["_attached"] = True
    status = {
        "id": status_id,
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "in_reply_to_id": fields["in_reply_to_id"] or None,
        "in_reply_to_account_id": ACCOUNT["id"] if fields["in_reply_to_id"] else None,
        "sensitive": form.get("sensitive") in ("1", "true"),
        "spoiler_text": fields["spoiler_text"],
        "visibility": str(form.get("visibility") or "public"),
        "language": form.get("language") or None,
        "uri": f"{fake.url}/users/alice/statuses/{status_id}",
        "url": f"{fake.url}/@alice/{status_id}",
        "content": _content_html(fields["status"]),
        "account": ACCOUNT,
        "media_attachments": [_public(fake.media[m]) for m in media_ids],
        "_text": fields["status"],
    }
    fake.statuses.append(status)
    return status


async def _handle_account_statuses(fake: FakeMastodon, request: web.Request) -> web.Response:
    if request.match_info["id"] != ACCOUNT["id"]:
        return _error(404, "Record not found")
    limit = min(40, int(request.query.get("limit", "20")))
    newest = [_public(s) for s in reversed(fake.statuses)][:limit]
    return web.json_response(newest)


def _routes(fake: FakeMastodon) -> list[web.RouteDef]:
    def bound(handler: Callable[[FakeMastodon, web.Request], Awaitable[web.Response]]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await handler(fake, request)

        return handle

    async def instance_v1(_: web.Request) -> web.Response:
        return web.json_response(_instance(fake, 1))

    async def instance_v2(_: web.Request) -> web.Response:
        return web.json_response(_instance(fake, 2))

    async def me(_: web.Request) -> web.Response:
        return web.json_response(ACCOUNT)

    routes = []
    for path in ("/api/v1/instance", "/api/v1/instance/"):
        routes.append(web.get(path, instance_v1))
    for path in ("/api/v2/instance", "/api/v2/instance/"):
        routes.append(web.get(path, instance_v2))
    routes += [
        web.get("/api/v1/accounts/verify_credentials", me),
        web.get("/api/v1/accounts/{id}/statuses", bound(_handle_account_statuses)),
        web.post("/api/v2/media", bound(_handle_upload)),
        web.get("/api/v1/media/{id}", bound(_handle_media)),
        web.post("/api/v1/statuses", bound(_handle_status)),
    ]
    return routes


@asynccontextmanager
async def fake_mastodon(limits: Limits | None = None) -> AsyncIterator[FakeMastodon]:
    """Run the fake server on 127.0.0.1 (a free port) for the duration of the block."""
    fake = FakeMastodon(limits=limits or Limits())
    app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[_middleware(fake)])
    app.add_routes(_routes(fake))
    async with served(app) as fake.url:
        try:
            yield fake
        finally:
            fake.closing.set()  # slow answers stop waiting


@contextmanager
def fake_mastodon_in_a_thread(limits: Limits | None = None) -> Iterator[FakeMastodon]:
    """The fake server on an event loop of its own, for a test that blocks (a daemon process)."""
    ready, served = threading.Event(), []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async with fake_mastodon(limits) as fake:
            served.append(fake)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the fake Mastodon did not start"
    try:
        yield served[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def mastodon_publisher(
    fake: FakeMastodon, state_dir: Any, progress: ProgressStore | None = None, **settings: Any
) -> MastodonPublisher:
    """A publisher pointed at `fake`, with quick retries unless `settings` say otherwise."""
    values: dict[str, Any] = {
        "enabled": True,
        "api_base_url": fake.url,
        "access_token": fake.token,
        "retry_base_delay": 0.05,
        "retry_max_delay": 0.2,
        "request_timeout": 5,
        **settings,
    }
    context = PublisherContext(state_dir=state_dir)
    if progress is not None:
        context = PublisherContext(state_dir=state_dir, progress=progress)
    return MastodonPublisher(MastodonSettings.model_validate(values), context)
