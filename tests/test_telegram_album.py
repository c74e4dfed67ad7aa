"""Albums on Telegram against the fake Bot API: groups of 2 to 10, the caption once, each
album its own destination, spoilers for a content warning, the note for alt text."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from daemon.frontmatter import ContentWarning
from daemon.post import Post, identity_of
from daemon.progress import DestinationState, MemoryProgress
from daemon.publishers.telegram.album import group_sizes
from tests.conftest import make_image
from tests.fakes.ledger import admitted, ledger_progress
from tests.fakes.telegram_api import TOKEN, FakeTelegram, fake_telegram, telegram_publisher

NUDITY = ContentWarning("nudity")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with fake_telegram() as server:
        yield server


def album_of(
    folder: Path,
    count: int,
    caption: str = "A walk by the lake",
    *,
    alt: tuple[str, ...] = (),
    warning: ContentWarning | None = None,
) -> Post:
    """A post of `count` images, each of its own size so that each upload is told apart."""
    images = tuple(
        make_image(folder / f"walk.{n}.jpg", size=(40 + n, 30)) for n in range(1, count + 1)
    )
    caption_file = folder / "walk.txt"
    caption_file.write_text(caption, encoding="utf-8")
    identity = identity_of(images[0].read_bytes(), caption.encode())
    return Post(
        "walk", images, caption_file, caption, identity=identity, alt=alt, content_warning=warning
    )


def uploads(fake: FakeTelegram) -> list[bytes]:
    """Every image the fake took, in the order it took them."""
    found = []
    for request in fake.sent():
        if request.method == "sendMediaGroup":
            found += [item["upload"].data for item in request.media]
        elif request.method in ("sendPhoto", "sendDocument"):
            found.append(request.upload.data)
    return found


@pytest.mark.parametrize(
    ("count", "sizes"),
    [
        (1, [1]),
        (2, [2]),
        (10, [10]),
        (11, [6, 5]),
        (12, [6, 6]),
        (21, [7, 7, 7]),
        (31, [8, 8, 8, 7]),
    ],
)
def test_albums_are_as_few_as_hold_the_images_and_as_even_as_can_be(
    count: int, sizes: list[int]
) -> None:
    assert group_sizes(count) == sizes


@pytest.mark.parametrize("count", [2, 10])
async def test_up_to_ten_images_go_as_one_album(
    fake: FakeTelegram, tmp_path: Path, count: int
) -> None:
    """One sendMediaGroup, the caption on its first item only, every image in order."""
    post = album_of(tmp_path, count)
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post)
    assert result.ok, result.error
    (album,) = fake.requests
    assert album.method == "sendMediaGroup"
    assert [item.get("caption") for item in album.media] == ["A walk by the lake"] + [None] * (
        count - 1
    )
    assert uploads(fake) == [image.read_bytes() for image in post.images]
    assert all("has_spoiler" not in item for item in album.media)
    assert (result.remote_id, result.url, result.notes) == (
        "@channel:1",
        "https://t.me/channel/1",
        (),
    )


@pytest.mark.parametrize(("count", "sizes"), [(12, [6, 6]), (21, [7, 7, 7])])
async def test_more_than_ten_images_go_as_several_albums_with_the_caption_once(
    fake: FakeTelegram, tmp_path: Path, count: int, sizes: list[int]
) -> None:
    post = album_of(tmp_path, count)
    progress = MemoryProgress()
    async with telegram_publisher(fake, tmp_path, progress) as publisher:
        result = await publisher.publish(post)
    assert result.ok, result.error
    albums = fake.sent("sendMediaGroup")
    assert [len(album.media) for album in albums] == sizes == [len(r.media) for r in fake.requests]
    captions = [item.get("caption") for album in albums for item in album.media]
    assert captions == ["A walk by the lake"] + [None] * (count - 1)
    assert uploads(fake) == [image.read_bytes() for image in post.images]
    # One post, one notification: the albums after the first arrive silently.
    assert [album.fields.get("disable_notification") for album in albums] == ["false"] + [
        "true"
    ] * (len(sizes) - 1)
    listed = " and ".join([", ".join(map(str, sizes[:-1])), str(sizes[-1])])
    assert result.notes == (
        f"{count} images sent as {len(sizes)} albums of {listed} (Telegram takes at most 10 "
        "images in one album); the caption goes with the first",
    )
    known = await progress.for_post(post, "telegram").known()
    names = ["@channel#0"] + [f"@channel#album{n}" for n in range(2, len(sizes) + 1)]
    assert sorted(known) == sorted(names)
    first_ids = [1 + sum(sizes[:index]) for index in range(len(sizes))]
    for name, first, size in zip(names, first_ids, sizes, strict=True):
        assert known[name].state is DestinationState.SENT
        assert known[name].remote_id == ",".join(str(n) for n in range(first, first + size))
        assert known[name].url == f"https://t.me/channel/{first}"
    assert result.remote_id == "@channel:1"


async def test_a_long_caption_with_an_album_follows_the_albums_as_replies(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """The first 1024 characters (as TDLib counts them after parsing) go with the first album;
    the rest follows the last album, replying to the first image."""
    caption = "<b>Lake</b> " + "sunset &amp; shore " * 130  # 2,095 characters shown
    post = album_of(tmp_path, 12, caption)
    async with telegram_publisher(fake, tmp_path, parse_mode="HTML") as publisher:
        result = await publisher.publish(post)
    assert result.ok, result.error
    assert [request.method for request in fake.sent()] == [
        "sendMediaGroup",
        "sendMediaGroup",
        "sendMessage",
    ]
    head = fake.sent("sendMediaGroup")[0].media[0]
    assert head["caption"].startswith("<b>Lake</b> sunset")
    assert head["parse_mode"] == "HTML"
    (reply,) = fake.sent("sendMessage")
    assert reply.reply_to == 1
    assert result.notes[-1] == (
        "caption split into 2 messages (Telegram takes 1,024 characters with an image): "
        "the album's caption and 1 reply"
    )


async def album_request(
    fake: FakeTelegram, media: object, files: dict[str, bytes]
) -> tuple[int, dict[str, Any]]:
    """POST a sendMediaGroup by hand, as any client could; the status and the answer."""
    form = aiohttp.FormData()
    form.add_field("chat_id", "@channel")
    if media is not None:
        form.add_field("media", json.dumps(media))
    for name, data in files.items():
        form.add_field(name, data, filename=f"{name}.jpg")
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.url}/bot{TOKEN}/sendMediaGroup", data=form) as answer,
    ):
        return answer.status, await answer.json()


def photo(name: str, **fields: object) -> dict[str, object]:
    return {"type": "photo", "media": f"attach://{name}", **fields}


_DOCUMENT = {"type": "document", "media": "attach://d"}
_REFUSED = [
    ("no media", None, 'Bad Request: parameter "media" is required'),
    ("empty", [], "Bad Request: there are no messages to send"),
    ("one item", [photo("a")], "Bad Request: an album must include 2-10 items (the documentation)"),
    ("eleven", [photo("a")] * 11, "Bad Request: too many messages to send as an album"),
    (
        "mixed",
        [photo("a"), _DOCUMENT],
        "Bad Request: document can't be mixed with other media types",
    ),
    (
        "unattached",
        [photo("a"), photo("missing")],
        "Bad Request: can't parse InputMedia: media not found",
    ),
    (
        "sticker",
        [photo("a"), {"type": "sticker", "media": "attach://a"}],
        'Bad Request: can\'t parse InputMedia: type "sticker" is unsupported',
    ),
    (
        "spoiler text",
        [photo("a", has_spoiler="yes"), photo("a")],
        'Bad Request: can\'t parse InputMedia: Field "has_spoiler" must be of type Boolean',
    ),
    (
        "wide photo",
        [photo("a"), photo("wide")],
        'Bad Request: failed to send message #2 with the error message "PHOTO_INVALID_DIMENSIONS"',
    ),
    (
        "long caption",
        [photo("a", caption="<i>" + "x" * 1025 + "</i>", parse_mode="HTML"), photo("a")],
        "Bad Request: message caption is too long",
    ),
    (
        "bad markup",
        [photo("a", caption="<b>open", parse_mode="HTML"), photo("a")],
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
    ),
]


@pytest.mark.parametrize(
    ("media", "description"), [case[1:] for case in _REFUSED], ids=[case[0] for case in _REFUSED]
)
async def test_the_fake_refuses_the_albums_the_bot_api_refuses(
    fake: FakeTelegram, tmp_path: Path, media: object, description: str
) -> None:
    files = {
        "a": make_image(tmp_path / "a.jpg").read_bytes(),
        "d": make_image(tmp_path / "d.jpg").read_bytes(),
        "wide": make_image(tmp_path / "wide.jpg", size=(4200, 200)).read_bytes(),
    }
    status, answer = await album_request(fake, media, files)
    assert (status, answer["description"]) == (400, description)
    assert fake.sent() == []


async def test_the_fake_takes_an_album_as_the_bot_api_does(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """1024 characters after parsing fit; spoilers show on the messages; one media_group_id."""
    files = {"a": make_image(tmp_path / "a.jpg").read_bytes()}
    caption = "<i>" + "x" * 1024 + "</i>"
    media = [photo("a", caption=caption, parse_mode="HTML", has_spoiler=True), photo("a")]
    status, answer = await album_request(fake, media, files)
    assert status == 200, answer
    first, second = answer["result"]
    assert (first["message_id"], second["message_id"]) == (1, 2)
    assert first["media_group_id"] == second["media_group_id"]
    assert (first.get("has_media_spoiler"), second.get("has_media_spoiler")) == (True, None)
    assert first["caption"] == caption
    assert "caption" not in second


async def test_a_content_warning_hides_every_photo_of_every_album(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    post = album_of(tmp_path, 12, warning=NUDITY)
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post)
    assert result.ok, result.error
    items = [item for album in fake.sent("sendMediaGroup") for item in album.media]
    assert len(items) == 12
    assert all(item["type"] == "photo" and item["has_spoiler"] is True for item in items)


async def test_a_content_warning_hides_a_single_photo(fake: FakeTelegram, tmp_path: Path) -> None:
    post = album_of(tmp_path, 1, warning=ContentWarning("graphic-media", "a wound"))
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post)
    assert result.ok, result.error
    (photo,) = fake.sent("sendPhoto")
    assert photo.spoiler


async def test_without_a_warning_no_photo_is_hidden(fake: FakeTelegram, tmp_path: Path) -> None:
    async with telegram_publisher(fake, tmp_path) as publisher:
        await publisher.publish(album_of(tmp_path, 1))
    (photo,) = fake.sent("sendPhoto")
    assert "has_spoiler" not in photo.fields


@pytest.fixture(scope="module")
def big_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12 MB PNG of noise: over the photo size limit only."""
    path = tmp_path_factory.mktemp("big") / "big.png"
    noise = Image.frombytes("RGB", (2000, 2000), os.urandom(2000 * 2000 * 3))
    noise.save(path, "PNG", compress_level=0)
    return path


async def test_a_warned_oversize_image_is_scaled_rather_than_sent_uncovered(
    fake: FakeTelegram, tmp_path: Path, big_image: Path
) -> None:
    """`oversize: document` would send it as a document, which no spoiler can hide."""
    post = album_of(tmp_path, 2, warning=NUDITY)
    post = Post(**{**post.__dict__, "images": (big_image, post.images[1])})
    async with telegram_publisher(fake, tmp_path, oversize="document") as publisher:
        result = await publisher.publish(post)
    assert result.ok, result.error
    (album,) = fake.sent("sendMediaGroup")
    assert [(item["type"], item["has_spoiler"]) for item in album.media] == [("photo", True)] * 2
    assert result.notes[0].startswith("big.png sent as a photo, re-encoded as a 2000x2000 JPEG")


async def test_a_warned_image_that_cannot_be_a_photo_stops_the_post(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """A 40:1 image can only go as a document, uncovered: nothing is sent."""
    post = album_of(tmp_path, 2, warning=NUDITY)
    tall = make_image(tmp_path / "tall.jpg", size=(100, 4000))
    post = Post(**{**post.__dict__, "images": (post.images[0], tall)})
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post)
    assert not result.ok
    assert not result.unknown
    assert result.error is not None
    assert result.error.startswith("tall.jpg cannot go as a photo (an aspect ratio of 40.0:1")
    assert "a document cannot be hidden behind a spoiler" in result.error
    assert fake.requests == []


async def test_an_album_with_a_document_makes_only_its_own_album_documents(
    fake: FakeTelegram, tmp_path: Path, big_image: Path
) -> None:
    """The Bot API mixes no document with photos in one album; the other album stays photos."""
    post = album_of(tmp_path, 12)
    post = Post(**{**post.__dict__, "images": (*post.images[:11], big_image)})
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post)
    assert result.ok, result.error
    first, second = fake.sent("sendMediaGroup")
    assert {item["type"] for item in first.media} == {"photo"}
    assert {item["type"] for item in second.media} == {"document"}
    assert sum("sent as a document" in note for note in result.notes) == 6


async def test_alt_text_is_noted_once_for_the_post(fake: FakeTelegram, tmp_path: Path) -> None:
    post = album_of(tmp_path, 12, alt=("The lake at dawn", "", "Reeds"))
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post)
    assert result.ok, result.error
    assert result.notes.count("Telegram shows no alt text") == 1
    assert len(result.notes) == 2  # the split into albums, and the alt text


async def test_a_post_without_alt_text_has_no_such_note(fake: FakeTelegram, tmp_path: Path) -> None:
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(album_of(tmp_path, 2, alt=("", "")))
    assert result.notes == ()


async def test_an_album_refused_after_the_first_is_resent_alone(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """The second album was refused: a retry sends it and the replies, never the first again."""
    fake.fail(400, method="sendMediaGroup", description="Bad Request: try again", skip=1, times=1)
    post = album_of(tmp_path, 12, "word " * 300)
    with ledger_progress(tmp_path / "state") as progress:
        post = admitted(progress, post)
        async with telegram_publisher(fake, tmp_path, progress) as publisher:
            first = await publisher.publish(post)
            second = await publisher.publish(post)
    assert first.error is not None
    assert "the first 1 of the post's 3 parts arrived" in first.error
    assert TOKEN not in first.error
    assert TOKEN.partition(":")[2] not in first.error
    assert second.ok, second.error
    assert [
        (r.method, len(r.media) if r.method == "sendMediaGroup" else 0) for r in fake.sent()
    ] == [
        ("sendMediaGroup", 6),
        ("sendMediaGroup", 6),
        ("sendMessage", 0),
    ]
    assert uploads(fake) == [image.read_bytes() for image in post.images]
    assert fake.sent("sendMessage")[0].reply_to == 1


async def test_a_crash_after_the_first_album_resumes_at_the_second(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """The ledger says the first album was sent (the process died right after): a restart
    sends the second album only, and the caption's reply answers the first album's head."""
    post = album_of(tmp_path, 12, "word " * 300)
    with ledger_progress(tmp_path / "state") as progress:
        post = admitted(progress, post)
        destinations = progress.for_post(post, "telegram")
        await destinations.sending(["@channel#0"])
        await destinations.sent("@channel#0", "41,42,43,44,45,46", "https://t.me/channel/41")
        async with telegram_publisher(fake, tmp_path, progress) as publisher:
            result = await publisher.publish(post)
        known = await destinations.known()
    assert result.ok, result.error
    (album,) = fake.sent("sendMediaGroup")
    assert [item["upload"].data for item in album.media] == [
        p.read_bytes() for p in post.images[6:]
    ]
    assert all("caption" not in item for item in album.media)
    assert fake.sent("sendMessage")[0].reply_to == 41
    assert result.remote_id == "@channel:41"
    assert {name: d.state for name, d in known.items()} == {
        "@channel#0": DestinationState.SENT,
        "@channel#album2": DestinationState.SENT,
        "@channel#1": DestinationState.SENT,
    }


async def test_an_album_in_flight_across_an_upgrade_keeps_its_names(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """The previous version kept a two-image album as `@channel#0` with the first message's id
    alone: its caption replies still follow, and the album is not sent again."""
    post = album_of(tmp_path, 2, "word " * 300)
    with ledger_progress(tmp_path / "state") as progress:
        post = admitted(progress, post)
        destinations = progress.for_post(post, "telegram")
        await destinations.sent("@channel#0", "7", "https://t.me/channel/7")
        async with telegram_publisher(fake, tmp_path, progress) as publisher:
            result = await publisher.publish(post)
    assert result.ok, result.error
    assert [request.method for request in fake.sent()] == ["sendMessage"]
    assert fake.sent("sendMessage")[0].reply_to == 7
    assert result.remote_id == "@channel:7"
