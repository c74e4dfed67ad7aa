"""A fake Telegram Bot API: a real aiohttp server on a loopback port.

It answers `getMe`, `sendPhoto`, `sendDocument`, `sendMessage` and `sendMediaGroup` as the
Bot API does (multipart uploads with `attach://` parts, `{"ok": true, "result": ...}`
replies), enforces the limits a publisher must respect (caption and message lengths in code
points after entity parsing, photo size and dimensions, 2 to 10 items in an album and no
document among photos, as the official server words its refusals), reads every HTML or MarkdownV2
caption and text with TDLib's own parser as the official server does (refusing what it
refuses, with its message), and records every request.
It can be told to answer with an error (429 with `retry_after`, 400, 401, 403, 500, ...) or
to be slow.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from PIL import Image

from daemon.progress import MemoryProgress, ProgressStore
from daemon.publisher import PublisherContext
from daemon.publishers.telegram import TelegramPublisher, TelegramSettings
from tests.fakes import tdlib
from tests.fakes.loopback import served

TOKEN = "123456789:AAH-fake-token-for-tests-only-abcdefgh"
BOT_USERNAME = "dropcast_test_bot"
CAPTION_LIMIT, TEXT_LIMIT, ALBUM_LIMIT = 1024, 4096, 10
PHOTO_MAX_BYTES = 10_000_000


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


@dataclass
class Request:
    """One Bot API request as the fake received it, and how it answered."""

    method: str
    token: str
    fields: dict[str, str]
    files: dict[str, Upload]
    status: int = 200
    peer: Any = None  # the client's (host, port): one connection, one port

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> str:
        return self.fields.get("chat_id", "")

    @property
    def caption(self) -> str | None:
        return self.fields.get("caption")

    @property
    def text(self) -> str | None:
        return self.fields.get("text")

    @property
    def upload(self) -> Upload:
        """The file of a `sendPhoto` or `sendDocument`."""
        reference = self.fields.get("photo") or self.fields.get("document") or ""
        return self.files[reference.removeprefix("attach://")]

    @property
    def spoiler(self) -> bool:
        """A `sendPhoto` asked to hide its photo behind a spoiler."""
        return self.fields.get("has_spoiler", "").lower() in ("true", "1")

    @property
    def media(self) -> list[dict[str, Any]]:
        """The items of a `sendMediaGroup` (one the fake took), each with its `upload`."""
        items: list[dict[str, Any]] = json.loads(self.fields.get("media", "[]"))
        for item in items:
            item["upload"] = self.files[str(item["media"]).removeprefix("attach://")]
        return items

    @property
    def reply_to(self) -> int | None:
        parameters = json.loads(self.fields.get("reply_parameters", "null"))
        return None if parameters is None else int(parameters["message_id"])


@dataclass
class Rule:
    """An answer the fake gives instead of the normal one, `times` times (None: always)."""

    method: str | None
    chat: str | None
    status: int = 200
    description: str = ""
    retry_after: int | None = None
    delay: float = 0.0
    times: int | None = None
    garble: bool = False  # carry the request out, then answer ok with a result no client reads
    skip: int = 0  # let this many matching requests through first

    def matches(self, method: str, chat: str) -> bool:
        if self.method not in (None, method) or self.chat not in (None, chat):
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        return self.times is None or self.times > 0


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot is not a member of the channel chat",
    404: "Not Found",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
}


@dataclass
class FakeTelegram:
    """The fake's state: what it received and how it will answer."""

    token: str = TOKEN
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    # The text fields of each request as soon as they arrived, before its files and whether
    # or not it was then read whole: a request cut off by a kill has reached the fake all the same.
    arrivals: list[dict[str, str]] = field(default_factory=list)
    _message_ids: dict[str, int] = field(default_factory=dict)

    def fail(
        self,
        status: int,
        *,
        method: str | None = None,
        chat: str | None = None,
        times: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        skip: int = 0,
    ) -> None:
        """Answer matching requests with `status` (and Telegram's usual description for it),
        after letting `skip` of them through."""
        text = description or _DEFAULT_DESCRIPTIONS.get(status, "Error")
        text = text.format(retry_after=retry_after)
        self.rules.append(Rule(method, chat, status, text, retry_after, times=times, skip=skip))

    def slow(
        self,
        seconds: float,
        *,
        method: str | None = None,
        chat: str | None = None,
        times: int | None = None,
        skip: int = 0,
    ) -> None:
        """Wait `seconds` before answering matching requests, after `skip` of them."""
        self.rules.append(Rule(method, chat, delay=seconds, times=times, skip=skip))

    def garble(
        self, *, method: str | None = None, chat: str | None = None, times: int | None = None
    ) -> None:
        """Carry matching requests out, then answer `ok` with a result aiogram cannot read."""
        self.rules.append(Rule(method, chat, garble=True, times=times))

    def sent(self, method: str | None = None, chat: str | None = None) -> list[Request]:
        """The requests the fake accepted, in order, optionally of one method or chat."""
        return [
            request
            for request in self.requests
            if request.ok and method in (None, request.method) and chat in (None, request.chat_id)
        ]

    def next_message_id(self, chat: str) -> int:
        self._message_ids[chat] = self._message_ids.get(chat, 0) + 1
        return self._message_ids[chat]


@asynccontextmanager
async def fake_telegram(token: str = TOKEN) -> AsyncIterator[FakeTelegram]:
    """Run the fake Bot API on 127.0.0.1 (a free port) for the duration of the block."""
    tdlib.require()  # it reads every caption with TDLib: without it, the test is skipped
    fake = FakeTelegram(token)
    app = web.Application(client_max_size=100 * 1024 * 1024)
    app.router.add_post("/bot{token}/{method}", _handler(fake))
    async with served(app) as fake.url:
        try:
            yield fake
        finally:
            fake.closing.set()  # slow answers stop waiting


def _handler(fake: FakeTelegram) -> Any:
    async def handle(http_request: web.Request) -> web.Response:
        request = await _read(http_request, fake.arrivals)
        request.peer = http_request.transport and http_request.transport.get_extra_info("peername")
        fake.requests.append(request)
        status, payload = await _answer(fake, request)
        request.status = status
        return web.json_response(payload, status=status)

    return handle


async def _read(http_request: web.Request, arrivals: list[dict[str, str]]) -> Request:
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    if http_request.content_type.startswith("multipart/"):
        reader = await http_request.multipart()
        async for part in reader:
            assert isinstance(part, BodyPartReader)  # no nested multipart in the Bot API
            if part.filename and not files:  # aiogram sends the text fields first
                arrivals.append(dict(fields))
            data = bytes(await part.read())
            if part.filename:
                files[part.name or ""] = Upload(part.filename, data)
            else:
                fields[part.name or ""] = data.decode("utf-8")
        if not files:
            arrivals.append(dict(fields))
    else:
        fields = {key: str(value) for key, value in (await http_request.post()).items()}
        arrivals.append(dict(fields))
    return Request(
        http_request.match_info["method"], http_request.match_info["token"], fields, files
    )


async def _answer(fake: FakeTelegram, request: Request) -> tuple[int, dict[str, Any]]:
    if request.token != fake.token:
        return _error(401, "Unauthorized")
    garbled = False
    for rule in fake.rules:
        if rule.matches(request.method, request.chat_id):
            if rule.times is not None:
                rule.times -= 1
            if rule.delay:
                await _wait(fake, rule.delay)
            if rule.status != 200:
                return _error(rule.status, rule.description, rule.retry_after)
            garbled = garbled or rule.garble
    method = _METHODS.get(request.method)
    if method is None:
        return _error(404, "Not Found")
    try:
        result = method(fake, request)
    except _RefusedError as refusal:
        return _error(refusal.status, str(refusal))
    return 200, {"ok": True, "result": {"message_id": "garbled"} if garbled else result}


async def _wait(fake: FakeTelegram, seconds: float) -> None:
    with suppress(TimeoutError):
        await asyncio.wait_for(fake.closing.wait(), seconds)


def _error(status: int, description: str, retry_after: int | None = None) -> tuple[int, Any]:
    payload: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        payload["parameters"] = {"retry_after": retry_after}
    return status, payload


class _RefusedError(Exception):
    """Raised by a fake method for a request the real Bot API would refuse."""

    def __init__(self, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.status = status


# --- Methods -----------------------------------------------------------------------------


def _get_me(fake: FakeTelegram, request: Request) -> dict[str, Any]:
    bot_id = int(fake.token.partition(":")[0])
    return {"id": bot_id, "is_bot": True, "first_name": "dropcast", "username": BOT_USERNAME}


def _send_message(fake: FakeTelegram, request: Request) -> dict[str, Any]:
    text = request.text or ""
    length = _visible_length(text, request.fields.get("parse_mode"))
    if length == 0:
        raise _RefusedError("Bad Request: message text is empty")
    if length > TEXT_LIMIT:
        raise _RefusedError("Bad Request: message is too long")
    return {**_message(fake, request.chat_id), "text": text}


def _send_photo(fake: FakeTelegram, request: Request) -> dict[str, Any]:
    _check_caption(request.caption, request.fields.get("parse_mode"))
    width, height = _check_photo(request.upload)
    photo = {"file_id": "photo", "file_unique_id": "p", "width": width, "height": height}
    hidden = _form_bool(request.fields.get("has_spoiler"))
    message = {**_message(fake, request.chat_id), "photo": [photo], **_caption(request.caption)}
    return {**message, **_spoiler(hidden)}


def _form_bool(value: str | None) -> bool:
    """A Boolean form field as the server reads it: "true" or "1" is true, absent false."""
    return (value or "").lower() in ("true", "1")


def _send_document(fake: FakeTelegram, request: Request) -> dict[str, Any]:
    _check_caption(request.caption, request.fields.get("parse_mode"))
    document = {"file_id": "doc", "file_unique_id": "d", "file_name": request.upload.filename}
    return {**_message(fake, request.chat_id), "document": document, **_caption(request.caption)}


def _send_media_group(fake: FakeTelegram, request: Request) -> list[dict[str, Any]]:
    """An album as the official server checks it: the items, their captions and files, then
    the mixing rule; its messages share a `media_group_id`. A refused album sends nothing."""
    items = _album_items(request)
    for position, item in enumerate(items, start=1):
        _check_caption(item.get("caption"), item.get("parse_mode"))
        if item["type"] == "photo":
            _check_album_photo(item["upload"], position)
    kinds = {item["type"] for item in items}
    if "document" in kinds and len(kinds) > 1:
        raise _RefusedError("Bad Request: document can't be mixed with other media types")
    group_id = str(10_000_000 + len(fake.requests))
    return [_album_message(fake, request.chat_id, item, group_id) for item in items]


def _album_items(request: Request) -> list[dict[str, Any]]:
    """The `media` array, each item's file found among the request's parts.

    Between 2 and 10 items, as the Bot API documents (the server sends one item alone, outside
    an album, but a client must not count on what the documentation does not promise)."""
    if "media" not in request.fields:
        raise _RefusedError('Bad Request: parameter "media" is required')
    items = json.loads(request.fields["media"])
    if not isinstance(items, list) or not items:
        raise _RefusedError("Bad Request: there are no messages to send")
    if len(items) > ALBUM_LIMIT:
        raise _RefusedError("Bad Request: too many messages to send as an album")
    if len(items) < 2:
        raise _RefusedError("Bad Request: an album must include 2-10 items (the documentation)")
    return [_album_item(item, request.files) for item in items]


def _album_item(item: Any, files: dict[str, Upload]) -> dict[str, Any]:
    if not isinstance(item, dict) or item.get("type") not in ("photo", "document"):
        kind = item.get("type") if isinstance(item, dict) else None
        raise _RefusedError(f'Bad Request: can\'t parse InputMedia: type "{kind}" is unsupported')
    spoiler = item.get("has_spoiler", False)
    if not isinstance(spoiler, bool):
        raise _RefusedError(
            'Bad Request: can\'t parse InputMedia: Field "has_spoiler" must be of type Boolean'
        )
    upload = files.get(str(item.get("media", "")).removeprefix("attach://"))
    if not str(item.get("media", "")).startswith("attach://") or upload is None:
        raise _RefusedError("Bad Request: can't parse InputMedia: media not found")
    return {**item, "upload": upload}


def _check_album_photo(upload: Upload, position: int) -> None:
    """A photo Telegram's servers refuse fails the album, named by its position."""
    try:
        _check_photo(upload)
    except _RefusedError as refusal:
        if refusal.status != 400:  # too large: refused before the album is looked at
            raise
        error = str(refusal).removeprefix("Bad Request: ")
        raise _RefusedError(
            f'Bad Request: failed to send message #{position} with the error message "{error}"'
        ) from None


def _album_message(
    fake: FakeTelegram, chat_id: str, item: dict[str, Any], group_id: str
) -> dict[str, Any]:
    message = {
        **_message(fake, chat_id),
        "media_group_id": group_id,
        **_caption(item.get("caption")),
    }
    if item["type"] == "document":
        upload: Upload = item["upload"]
        return {
            **message,
            "document": {"file_id": "doc", "file_unique_id": "d", "file_name": upload.filename},
        }
    width, height = _check_photo(item["upload"])
    photo = {"file_id": "photo", "file_unique_id": "p", "width": width, "height": height}
    return {**message, "photo": [photo], **_spoiler(item.get("has_spoiler") is True)}


def _spoiler(hidden: bool) -> dict[str, bool]:
    """`has_media_spoiler`, which the Bot API sets only on media hidden behind a spoiler."""
    return {"has_media_spoiler": True} if hidden else {}


_METHODS: dict[str, Any] = {
    "getMe": _get_me,
    "sendMessage": _send_message,
    "sendPhoto": _send_photo,
    "sendDocument": _send_document,
    "sendMediaGroup": _send_media_group,
}


def _message(fake: FakeTelegram, chat_id: str) -> dict[str, Any]:
    return {
        "message_id": fake.next_message_id(chat_id),
        "date": 1_800_000_000,
        "chat": _chat(chat_id),
    }


def _chat(chat_id: str) -> dict[str, Any]:
    """@name is a public channel; a negative id a private supergroup; else a private chat."""
    if chat_id.startswith("@"):
        return {"id": -1_000_000_000_000 - len(chat_id), "type": "channel", "username": chat_id[1:]}
    if chat_id.startswith("-"):
        return {"id": int(chat_id), "type": "supergroup", "title": "a group"}
    return {"id": int(chat_id), "type": "private", "first_name": "someone"}


def _caption(caption: str | None) -> dict[str, str]:
    return {} if caption is None else {"caption": caption}


def _check_caption(caption: str | None, parse_mode: str | None) -> None:
    if caption is not None and _visible_length(caption, parse_mode) > CAPTION_LIMIT:
        raise _RefusedError("Bad Request: message caption is too long")


def _check_photo(upload: Upload) -> tuple[int, int]:
    if len(upload.data) > PHOTO_MAX_BYTES:
        raise _RefusedError("Request Entity Too Large", status=413)
    with Image.open(io.BytesIO(upload.data)) as image:
        width, height = image.size
    if width + height > 10_000 or max(width, height) > 20 * min(width, height):
        raise _RefusedError("Bad Request: PHOTO_INVALID_DIMENSIONS")
    return width, height


# --- Entity parsing, by TDLib as the Bot API server does it --------------------------------

_PARSE_MODES = {"html": "HTML", "markdownv2": "MarkdownV2", "markdown": "Markdown"}


def _visible_length(text: str, parse_mode: str | None) -> int:
    """Code points after TDLib's parsing and trimming, as the Bot API checks its limits."""
    mode = _PARSE_MODES.get((parse_mode or "").lower())
    if parse_mode and mode is None:
        raise _RefusedError("Bad Request: unsupported parse_mode")
    if mode is not None:
        try:
            text = tdlib.parse(text, mode).text
        except tdlib.ParseError as error:
            raise _RefusedError(f"Bad Request: can't parse entities: {error}") from None
    return len(text.lstrip(" \n").rstrip())  # TDLib trims a text before it counts


@contextmanager
def fake_telegram_in_a_thread(token: str = TOKEN) -> Iterator[FakeTelegram]:
    """The fake on an event loop of its own thread: for tests that run dropcast as a process
    and wait for it without a loop. Set its rules before dropcast calls it."""
    tdlib.require()  # here, where a skip reaches pytest
    ready, served = threading.Event(), _Served()

    async def serve() -> None:
        async with fake_telegram(token) as fake:
            served.fake, served.loop = fake, asyncio.get_running_loop()
            ready.set()
            await served.stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(30) or served.fake is None or served.loop is None:
        raise RuntimeError("the fake Bot API did not start")
    try:
        yield served.fake
    finally:
        served.loop.call_soon_threadsafe(served.stop.set)
        thread.join(30)


@dataclass
class _Served:
    fake: FakeTelegram | None = None
    loop: asyncio.AbstractEventLoop | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)


# --- For tests of the telegram publisher --------------------------------------------------


@asynccontextmanager
async def telegram_publisher(
    fake: FakeTelegram, state_dir: Path, progress: ProgressStore | None = None, **settings: Any
) -> AsyncIterator[TelegramPublisher]:
    """A telegram publisher pointed at `fake`, with quick retries; closed afterwards.

    `progress`: where it keeps each chat's parts (by default, in memory for this publisher).
    """
    values: dict[str, Any] = {
        "enabled": True,
        "token": TOKEN,
        "chat_ids": ["@channel"],
        "api_server": fake.url,
        "retry_base_delay": 0.01,
        **settings,
    }
    context = PublisherContext(state_dir, progress or MemoryProgress())
    publisher = TelegramPublisher(TelegramSettings.model_validate(values), context)
    try:
        yield publisher
    finally:
        await publisher.close()
