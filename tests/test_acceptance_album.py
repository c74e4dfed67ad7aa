"""Issue 16's acceptance: one album of 12 images with a 2,000-character caption, alt text and
`content_warning: nudity`, dropped once, arrives on every platform in that platform's own
form, with alt text and the warning where the platform has them, nothing cut, each part once;
and a kill -9 in the middle and a restart change nothing of that.

Everything is checked where it arrived: the fake Bot API, the fake Mastodon, the SMTP server,
the fake Instagram, Bluesky's reference PDS (read back with `listRecords`) and the preview's
gallery; the result record is checked for what it says of each.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from PIL import Image

from daemon.registry import Registry
from daemon.text_split import grapheme_count
from tests.conftest import archived, running_daemon, wait_for, write_album, write_config
from tests.fakes.instagram import (
    DAEMON_SETTINGS,
    PASSWORD,
    FakeInstagram,
    offline_instagram,
)
from tests.fakes.mastodon_api import TOKEN as MASTODON_TOKEN
from tests.fakes.mastodon_api import FakeMastodon, fake_mastodon, fake_mastodon_in_a_thread
from tests.fakes.pds import PdsServer, pds
from tests.fakes.smtp_server import FakeSMTPServer
from tests.fakes.telegram_api import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram_api import FakeTelegram, fake_telegram
from tests.test_crash import Dropcast, killed_after, wait_until
from tests.test_email import attachments

__all__ = ["pds"]

BODY = (
    "We left the village before sunrise and took the long way around the lake. The air was "
    "cold, the water lay still, and the first light came over the hills behind the old "
    "boathouse. Nobody else was on the path, so we took our time and stopped wherever the "
    "view asked us to.\n\n"
    "The first pictures are from the eastern shore, where the reeds grow taller than a person "
    "and the herons stand in the shallows as if they were carved from wood. We waited a long "
    "while for one of them to fly, and when it finally did, it went low over the water and "
    "vanished into the mist near the island.\n\n"
    "By the middle of the morning the sun had burned the mist away. We swam at the small beach "
    "below the pines, which is why some of these photographs are behind a warning: there is "
    "skin in them, and nothing else to worry about. The water was colder than it looked, and "
    "nobody stayed in for long, but everybody said afterwards that it had been the best part "
    "of the day.\n\n"
    "At the far end of the lake there is a hut where an old woman sells tea and honey cake "
    "from a window. She told us that the ice was so thick last winter that the children "
    "skated all the way to the island and back, and that her grandfather once drove a cart "
    "across it. We bought too much of her honey cake.\n\n"
    "After lunch we followed the stream up to the waterfall. The path is steep in places and "
    "the stones are slippery after rain, so wear proper boots if you go. The route is on "
    "https://example.org/walks/lake-loop if you want to follow it, with the distances and a "
    "map you can print.\n\n"
    "On the way back the light turned golden and then pink, and the lake took every colour "
    "the sky gave it. The last two pictures are the jetty at dusk and the boathouse again, "
    "this time with its lamp lit. We reached the village just as it got dark, tired and "
    "happy, with wet hair and sore feet.\n\n"
    "Thank you to everyone who came along, and to the farmer who let us cross his field when "
    "the lower path was flooded. We will do it again in the autumn, when the leaves turn. "
    "#lakewalk"
)
LINK = "https://example.org/walks/lake-loop"
ALT = (
    "The village street in the blue light before sunrise",
    "Mist lying on the still lake, hills dark behind it",
    "The old wooden boathouse with its doors shut",
    "Tall reeds on the eastern shore against a pale sky",
    "A grey heron standing in the shallows",
    "The heron flying low over the water towards the island",
    "Two swimmers seen from behind at the small beach below the pines",
    "A swimmer wading out, the water up to her waist",
    "The hut's window with a plate of honey cake on the sill",
    "The waterfall at the top of the stream, white water over black rock",
    "The wooden jetty at dusk, the lake pink and gold",
    "The boathouse again at night, its lamp lit",
)
CAPTION = (
    "---\nalt:\n"
    + "".join(f"  - {json.dumps(text)}\n" for text in ALT)
    + "content_warning: nudity\n---\n"
    + BODY
)
STEM, COUNT, WARNING = "walk", 12, "nudity"
ALBUM_FILES = COUNT + 2  # the images, the caption and the result record

assert len(BODY) == 2000, len(BODY)


# --- What every platform must show -------------------------------------------------------


def assert_whole(pieces: Sequence[str], where: str) -> None:
    """`pieces`, in order, are the caption body cut at whitespace: nothing dropped, nothing
    added, nothing twice (the only join any platform documents is the whitespace at a cut)."""
    assert pieces, f"{where}: no text at all"
    position = 0
    for number, piece in enumerate((piece.strip() for piece in pieces), 1):
        while position < len(BODY) and BODY[position].isspace():
            position += 1
        assert piece, f"{where}: part {number} is empty"
        assert BODY.startswith(piece, position), (
            f"{where}: part {number} is not the caption's next text: {piece[:80]!r} "
            f"(expected {BODY[position : position + 80]!r})"
        )
        position += len(piece)
        assert position == len(BODY) or BODY[position].isspace(), f"{where}: cut in a word"
    assert BODY[position:].strip() == "", f"{where}: the end is missing: {BODY[position:]!r}"


def result_record(folder: Path) -> dict[str, Any]:
    [path] = [p for p in archived(folder) if p.name.endswith(".result.json")]
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def assert_all_sent(record: dict[str, Any], platforms: Sequence[str]) -> None:
    assert record["outcome"] == "published", json.dumps(record, indent=1)[:4000]
    assert sorted(record["platforms"]) == sorted(platforms)
    for name, result in record["platforms"].items():
        assert result["ok"] is True, (name, result)
        states = {d["state"] for d in result.get("destinations", {}).values()}
        assert states <= {"sent"}, (name, result["destinations"])


def check_telegram(fake: FakeTelegram, originals: list[bytes], result: dict[str, Any]) -> None:
    """Two albums of 6 (sendMediaGroup), each photo once and in order behind a spoiler, the
    caption on the first photo and its rest as replies; the record notes the split and the
    missing alt text."""
    albums, replies = fake.sent("sendMediaGroup"), fake.sent("sendMessage")
    assert [r.method for r in fake.sent()] == ["sendMediaGroup"] * 2 + ["sendMessage"] * len(
        replies
    ), "something was sent twice, or in the wrong order"
    items = [item for album in albums for item in album.media]
    assert [len(album.media) for album in albums] == [6, 6]
    assert [item["upload"].data for item in items] == originals
    assert all(item["type"] == "photo" and item["has_spoiler"] is True for item in items)
    captions = [item.get("caption") for item in items]
    assert captions[1:] == [None] * (COUNT - 1)
    assert replies, "a 2,000-character caption cannot fit one Telegram caption"
    assert all(reply.reply_to is not None for reply in replies)
    assert_whole([captions[0] or "", *(reply.text or "" for reply in replies)], "telegram")
    assert "Telegram shows no alt text" in result["notes"]
    assert any(note.startswith("12 images sent as 2 albums of 6 and 6") for note in result["notes"])


def check_email(smtp: FakeSMTPServer, originals: list[bytes], result: dict[str, Any]) -> None:
    """The 12 images attached in order (over as many messages as SIZE asks), each once with
    its alt text as Content-Description, the warning in front of the subject, the caption
    whole in the body."""
    messages = [received.parsed() for received in smtp.received]
    assert messages, "no e-mail arrived"
    parts = [part for message in messages for part in attachments(message)]
    assert [part.get_content() for part in parts] == originals
    assert [part["Content-Description"] for part in parts] == list(ALT)
    assert [part.get_filename() for part in parts] == [f"walk.{n}.jpg" for n in range(1, 13)]
    for message in messages:
        assert str(message["Subject"]).startswith("[CW: nudity] "), message["Subject"]
    bodies = [plain_body(message) for message in messages]
    assert " ".join(bodies[0].split()) == " ".join(BODY.split())
    if len(messages) > 1:
        assert any("messages" in note for note in result["notes"]), result["notes"]


def plain_body(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def check_mastodon(fake: FakeMastodon, originals: list[bytes], result: dict[str, Any]) -> None:
    """One thread of statuses, each within max_characters, each sensitive with the warning,
    holding the whole text and the 12 images (at most max_media_attachments a status, each
    with its alt text as description), each status once."""
    statuses = fake.posted()
    limits = fake.limits
    assert statuses[0]["in_reply_to_id"] is None
    for parent, child in itertools.pairwise(statuses):
        assert child["in_reply_to_id"] == parent["id"]
    for status in statuses:
        text = fake.text_of(status)
        assert fake.status_length(text, status["spoiler_text"]) <= limits.max_characters
        assert (status["sensitive"], status["spoiler_text"]) == (True, WARNING)
        assert len(status["media_attachments"]) <= limits.max_media_attachments
    assert_whole([fake.text_of(s) for s in statuses if fake.text_of(s)], "mastodon")
    media = [m for status in statuses for m in status["media_attachments"]]
    assert [fake.uploads[m["id"]] for m in media] == originals
    assert [m["description"] for m in media] == list(ALT)
    assert len(result["destinations"]) == len(statuses)
    assert result["id"] == statuses[0]["id"]
    assert any(f"split into {len(statuses)} statuses" in note for note in result["notes"])


def check_instagram(fake: FakeInstagram, result: dict[str, Any]) -> None:
    """Two carousels (10 and 2), each item once, in order, with its alt text; the caption
    whole on each, numbered; the record notes that Instagram has no content warning."""
    first, second = fake.carousels.posted
    assert (len(first.items), len(second.items)) == (10, 2)
    items = [*first.items, *second.items]
    assert [item.alt for item in items] == list(ALT)
    reds = [item.colour[0] for item in items]  # write_album paints image n red = 20 n
    assert all(abs(red - 20 * n) <= 8 for n, red in enumerate(reds, 1)), reds
    assert (first.caption, second.caption) == (f"{BODY}\n\n(1/2)", f"{BODY}\n\n(2/2)")
    assert fake.names.count("configure_sidecar") == 2
    assert "Instagram has no content warning: posted without one" in result["notes"]


def check_preview(folder: Path) -> None:
    """One gallery entry with 12 thumbnails (each a real image), the alt text and the warning
    label."""
    [entry] = json.loads((folder / "posts.json").read_text(encoding="utf-8"))
    assert len(entry["thumbnails"]) == COUNT
    for name in entry["thumbnails"]:
        with Image.open(folder / name) as thumbnail:
            thumbnail.verify()
    assert entry["alt"] == list(ALT)
    assert entry["content_warning"] == WARNING
    assert " ".join(entry["caption"].split()) == " ".join(BODY.split())
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert page.count("Content warning: nudity") == 1
    assert page.count("<img ") == COUNT


# --- Bluesky, read back from the PDS -----------------------------------------------------


def bluesky_posts(pds: PdsServer) -> dict[str, dict[str, Any]]:
    """Every post in alice's repository on the PDS (listRecords, page by page), by URI."""
    found: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {
        "repo": pds.alice.did,
        "collection": "app.bsky.feed.post",
        "limit": 100,
    }
    with httpx.Client(base_url=pds.url, timeout=30) as client:
        while True:
            page = client.get("/xrpc/com.atproto.repo.listRecords", params=params)
            page.raise_for_status()
            data = page.json()
            found |= {record["uri"]: record["value"] for record in data["records"]}
            if not data["records"] or not data.get("cursor"):
                return found
            params["cursor"] = data["cursor"]


def as_thread(posts: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The new posts as one thread, root first: each replies to the one before."""
    [root] = [uri for uri, post in posts.items() if "reply" not in post]
    thread, uri = [posts[root]], root
    while len(thread) < len(posts):
        [uri] = [
            u for u, p in posts.items() if p.get("reply", {}).get("parent", {}).get("uri") == uri
        ]
        assert posts[uri]["reply"]["root"]["uri"] == root
        thread.append(posts[uri])
    return thread


def check_bluesky(
    pds: PdsServer, before: set[str], originals: list[bytes], result: dict[str, Any]
) -> None:
    """One thread of posts of at most 300 graphemes holding the whole text, at most 4 images
    a post (the 12 in order, each with its alt text and aspect ratio), every post self-labelled
    nudity, the link and the hashtag as facets; each post once."""
    new = {uri: post for uri, post in bluesky_posts(pds).items() if uri not in before}
    thread = as_thread(new)
    texts = [post["text"] for post in thread]
    assert all(grapheme_count(text) <= 300 for text in texts)
    assert_whole([text for text in texts if text], "bluesky")
    assert len(set(texts)) == len(texts)
    images = [image for post in thread for image in post.get("embed", {}).get("images", [])]
    assert all(len(post.get("embed", {}).get("images", [])) <= 4 for post in thread)
    assert [image["alt"] for image in images] == list(ALT)
    assert [blob_bytes(pds, image) for image in images] == originals
    ratios = [(image["aspectRatio"]["width"], image["aspectRatio"]["height"]) for image in images]
    assert ratios == [(64, 48)] * COUNT
    for post in thread:
        assert [label["val"] for label in post["labels"]["values"]] == [WARNING]
    features = [f for post in thread for facet in post.get("facets", []) for f in facet["features"]]
    assert {"$type": "app.bsky.richtext.facet#link", "uri": LINK} in features
    assert {"$type": "app.bsky.richtext.facet#tag", "tag": "lakewalk"} in features
    assert len(result["destinations"]) == len(thread)
    assert result["id"] in new
    assert any(
        note.startswith(f"posted as a thread of {len(thread)} posts on Bluesky")
        and "the 12 images 4 to a post, in 3 posts" in note
        for note in result["notes"]
    ), result["notes"]


def blob_bytes(pds: PdsServer, image: dict[str, Any]) -> bytes:
    cid = image["image"]["ref"]["$link"]
    params = {"did": pds.alice.did, "cid": cid}
    reply = httpx.get(f"{pds.url}/xrpc/com.atproto.sync.getBlob", params=params, timeout=30)
    reply.raise_for_status()
    return reply.content


# --- Every platform's settings -----------------------------------------------------------


def platforms(
    folder: Path, telegram: str, mastodon: str, smtp_port: int, pds: PdsServer
) -> dict[str, Any]:
    return {
        "preview": {"enabled": True, "folder": str(folder / "preview")},
        "telegram": {
            "enabled": True,
            "token": "${TELEGRAM_BOT_TOKEN}",
            "chat_ids": ["@channel"],
            "api_server": telegram,
        },
        "email": {
            "enabled": True,
            "host": "127.0.0.1",
            "port": smtp_port,
            "security": "none",
            "sender": "Dropcast <me@example.com>",
            "recipients": ["post@example.com"],
            "timeout": 30,
        },
        "mastodon": {
            "enabled": True,
            "api_base_url": mastodon,
            "access_token": "${MASTODON_TOKEN}",
            "request_timeout": 30,
        },
        "bluesky": {
            "enabled": True,
            "handle": pds.alice.handle,
            "app_password": "${BLUESKY_APP_PASSWORD}",
            "service": pds.url,
        },
    }


def secrets(pds: PdsServer) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "MASTODON_TOKEN": MASTODON_TOKEN,
        "BLUESKY_APP_PASSWORD": pds.alice.app_password,
        "INSTAGRAM_PASSWORD": PASSWORD,
    }


INSTAGRAM = DAEMON_SETTINGS


# --- 1. Every platform at once, in this process ------------------------------------------


@pytest.fixture
def instagram(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeInstagram]:
    with offline_instagram(monkeypatch) as fake:
        yield fake


@pytest.mark.timeout(300)
async def test_an_album_dropped_once_arrives_on_every_platform_in_its_own_form(
    tmp_path: Path, pds: PdsServer, instagram: FakeInstagram, free_tcp_port: int
) -> None:
    """The real daemon and watcher, all six platforms: each gets the album in its own form,
    with alt text and the warning where it has them, the whole caption, each part once."""
    before = set(bluesky_posts(pds))
    async with fake_telegram() as telegram, fake_mastodon() as mastodon:
        mastodon.processing_looks = 1  # each upload answers 202 and is polled once
        # `responses` answers every `requests` call in this process: Mastodon.py's go through.
        instagram.mock.add_passthru(mastodon.url)
        with FakeSMTPServer(free_tcp_port) as smtp:
            settings = platforms(tmp_path, telegram.url, mastodon.url, free_tcp_port, pds)
            settings["instagram"] = INSTAGRAM
            config = write_config(tmp_path, settings, publish_timeout=150)
            environ = {**os.environ, **secrets(pds)}
            async with running_daemon(config, Registry.discover(), environ=environ):
                images = write_album(tmp_path / "inbox", STEM, COUNT, CAPTION)
                originals = [image.read_bytes() for image in images]
                await wait_for(
                    lambda: len(archived(tmp_path)) == ALBUM_FILES, 200, what="the archive"
                )
            record = result_record(tmp_path)
            results = record["platforms"]
            assert_all_sent(record, [*settings])
            check_telegram(telegram, originals, results["telegram"])
            check_email(smtp, originals, results["email"])
            check_mastodon(mastodon, originals, results["mastodon"])
    check_instagram(instagram, results["instagram"])
    check_bluesky(pds, before, originals, results["bluesky"])
    check_preview(tmp_path / "preview")


# --- 2. kill -9 in the middle, as a real process ------------------------------------------


@pytest.fixture
def telegram_in_a_thread() -> Iterator[FakeTelegram]:
    """The fake Bot API on a loop of its own: the test waits on a process, not a loop."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(fake_telegram()) as fake,
    ):
        yield fake


@pytest.fixture
def dropcast(tmp_path: Path) -> Iterator[Dropcast]:
    yield from killed_after(tmp_path)


def configure(runner: Dropcast, settings: dict[str, Any]) -> None:
    runner.write_config(
        settings,
        state=str(runner.folder / "state"),
        archive=str(runner.folder / "archive"),
        publish_timeout=150,
    )


def delivered(runner: Dropcast, platform: str) -> bool:
    """The ledger holds `platform`'s whole delivery of the post as sent."""
    rows = runner.ledger(f"SELECT state FROM deliveries WHERE platform = '{platform}'")
    return rows == [("sent",)]


def drop_and_kill_in_the_middle(dropcast: Dropcast, mastodon: FakeMastodon) -> list[bytes]:
    """Start dropcast, drop the album, kill -9 it once Mastodon's part 2 is made (its answer
    held back) and Telegram, e-mail and the preview have delivered; start it again and wait
    for the archive. The album's images' bytes, in order."""
    dropcast.start()
    images = write_album(dropcast.inbox, STEM, COUNT, CAPTION)
    originals = [image.read_bytes() for image in images]
    wait_until(
        lambda: (
            len(mastodon.statuses) >= 2
            and all(delivered(dropcast, name) for name in ("telegram", "email", "preview"))
        ),
        "Mastodon's part 2 made, Telegram, e-mail and the preview delivered",
        within=120,
    )
    dropcast.kill()
    parts = "SELECT name, state FROM destinations WHERE platform = 'mastodon' ORDER BY name"
    assert dropcast.ledger(parts) == [("part 1", "sent"), ("part 2", "pending")]
    assert len(mastodon.statuses) == 2
    dropcast.start()
    wait_until(lambda: len(dropcast.archived()) == ALBUM_FILES, "the archive", within=150)
    return originals


@pytest.mark.timeout(300)
def test_a_kill_in_the_middle_and_a_restart_change_nothing(
    dropcast: Dropcast,
    pds: PdsServer,
    telegram_in_a_thread: FakeTelegram,
    free_tcp_port: int,
) -> None:
    """dropcast as a process with every platform but Instagram (its fake is `responses`,
    which answers only inside the test's own process), killed with SIGKILL while Mastodon's
    thread is half posted: part 1 answered, part 2 made on the server and its answer not yet
    back, Bluesky's thread wherever it is. Telegram, e-mail and the preview have delivered by
    then: they cannot look up what arrived, so a kill while one of their requests is in flight
    leaves it `unknown` for the owner by design (tests/test_telegram_crash.py). After the
    restart every platform shows exactly what the uninterrupted run shows, each part once,
    and the record says published."""
    telegram = telegram_in_a_thread
    before = set(bluesky_posts(pds))
    dropcast.inbox.mkdir()
    dropcast.environ.update(secrets(pds))
    with fake_mastodon_in_a_thread() as mastodon, FakeSMTPServer(free_tcp_port) as smtp:
        mastodon.slow_status(120, after=1)  # part 2 is made, its answer held back
        settings = platforms(dropcast.folder, telegram.url, mastodon.url, free_tcp_port, pds)
        configure(dropcast, settings)
        try:
            originals = drop_and_kill_in_the_middle(dropcast, mastodon)
        finally:
            dropcast.stop()
        record = result_record(dropcast.folder)
        results = record["platforms"]
        assert_all_sent(record, [*settings])
        check_telegram(telegram, originals, results["telegram"])
        check_email(smtp, originals, results["email"])
        check_mastodon(mastodon, originals, results["mastodon"])
    check_bluesky(pds, before, originals, results["bluesky"])
    check_preview(dropcast.folder / "preview")
    assert any(e["event"] == "mastodon.part_found" for e in dropcast.events())
    log = dropcast.log.read_text(encoding="utf-8")
    assert not [name for name, secret in secrets(pds).items() if secret in log]
