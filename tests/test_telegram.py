"""The telegram publisher against a fake Bot API over real HTTP: what each chat receives."""

from __future__ import annotations

import html
import io
import json
import os
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import anyio
import pytest
from PIL import Image
from structlog.testing import capture_logs

from daemon.post import Post, identity_of
from tests.conftest import make_image
from tests.fakes.telegram_api import FakeTelegram, fake_telegram, telegram_publisher


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with fake_telegram() as server:
        yield server


@pytest.fixture(scope="module")
def big_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12 MB PNG of noise, 2000 x 2000 pixels: over the photo size limit only."""
    path = tmp_path_factory.mktemp("big") / "big.png"
    noise = Image.frombytes("RGB", (2000, 2000), os.urandom(2000 * 2000 * 3))
    noise.save(path, "PNG", compress_level=0)
    assert path.stat().st_size > 12_000_000
    return path


def shown(markup: str) -> str:
    """The text of an HTML caption as Telegram shows it."""
    return html.unescape(re.sub(r"<[^<>]*>", "", markup))


def post_of(
    folder: Path,
    caption: str = "Red sky tonight",
    images: tuple[Path, ...] | None = None,
    captions: Mapping[str, str] | None = None,
) -> Post:
    if images is None:
        images = (make_image(folder / "sunset.jpg"),)
    caption_file = folder / "sunset.txt"
    caption_file.write_text(caption, encoding="utf-8")
    identity = identity_of(images[0].read_bytes(), caption.encode())  # as `read_post` has it
    return Post("sunset", images, caption_file, caption, captions=captions or {}, identity=identity)


async def test_a_post_goes_to_every_chat(fake: FakeTelegram, tmp_path: Path) -> None:
    """Each chat gets the photo and caption; the result lists one id per chat and the t.me link."""
    post = post_of(tmp_path)
    async with telegram_publisher(fake, tmp_path, chat_ids=["@channel", -1001234]) as publisher:
        result = await publisher.publish(post)
    assert result.ok, result.error
    assert result.remote_id == "@channel:1 -1001234:1"
    assert result.url == "https://t.me/channel/1"
    photos = fake.sent("sendPhoto")
    assert sorted(request.chat_id for request in photos) == ["-1001234", "@channel"]
    assert all(request.caption == "Red sky tonight" for request in photos)
    assert all(request.upload.data == post.image.read_bytes() for request in photos)


async def test_a_1024_character_caption_goes_with_the_photo_alone(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """A caption of exactly 1024 characters needs no further message."""
    caption = ("word " * 205)[:1024]
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post_of(tmp_path, caption))
    assert result.ok, result.error
    assert [request.method for request in fake.requests] == ["sendPhoto"]
    assert fake.requests[0].caption == caption
    assert result.notes == ()


async def test_a_1025_character_caption_continues_in_a_reply(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """One character too many: the rest follows as a text message replying to the photo."""
    caption = ("word " * 205)[:1024] + "s"
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post_of(tmp_path, caption))
    assert result.ok, result.error
    photo, message = fake.requests
    assert (photo.method, message.method) == ("sendPhoto", "sendMessage")
    assert photo.caption is not None
    assert message.text is not None
    assert photo.caption + message.text == caption
    assert message.reply_to == 1
    assert result.notes == (
        "caption split into 2 messages (Telegram takes 1,024 characters with an image): "
        "the image's caption and 1 reply",
    )


async def test_a_9000_character_caption_arrives_whole_and_in_order(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """A long caption arrives in pieces within their limits that join up to the original."""
    caption = "\n\n".join(f"Paragraph {n}: " + "a few words " * 60 for n in range(13))
    caption = caption[:8999] + "."
    assert len(caption) == 9000
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post_of(tmp_path, caption))
    assert result.ok, result.error
    photo, *messages = fake.requests
    texts = [photo.caption or "", *(message.text or "" for message in messages)]
    assert "".join(texts) == caption
    assert len(texts[0]) <= 1024
    assert all(len(text) <= 4096 for text in texts[1:])
    assert all(text.endswith("\n\n") for text in texts[:-1])  # each ends a paragraph
    assert all(message.reply_to == 1 for message in messages)
    assert result.notes == (
        f"caption split into {len(texts)} messages (Telegram takes 1,024 characters with an "
        f"image): the image's caption and {len(messages)} replies",
    )


async def test_further_caption_messages_are_silent_and_without_previews(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """Only the photo may notify; the caption's continuation shows no link preview."""
    caption = "https://example.com " * 60
    async with telegram_publisher(fake, tmp_path) as publisher:
        await publisher.publish(post_of(tmp_path, caption))
    photo, message = fake.requests
    assert photo.fields["disable_notification"] == "false"
    assert message.fields["disable_notification"] == "true"
    assert json.loads(message.fields["link_preview_options"]) == {"is_disabled": True}


async def test_the_caption_is_sent_as_plain_text_by_default(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """Without a parse_mode, `<b>` and `*` arrive as typed and no parse_mode is sent."""
    async with telegram_publisher(fake, tmp_path) as publisher:
        await publisher.publish(post_of(tmp_path, "<b>not bold</b> *nor this*"))
    assert fake.requests[0].caption == "<b>not bold</b> *nor this*"
    assert "parse_mode" not in fake.requests[0].fields


async def test_an_html_caption_that_must_split_keeps_every_piece_well_formed(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """With parse_mode HTML, bold text across the split is closed and reopened; all text arrives."""
    caption = "<b>" + "bold &amp; bright " * 100 + "</b>" + "plain " * 100
    async with telegram_publisher(fake, tmp_path, parse_mode="HTML") as publisher:
        result = await publisher.publish(post_of(tmp_path, caption))
    assert result.ok, result.error  # the fake refuses badly nested tags and long captions
    photo, message = fake.requests
    assert photo.fields["parse_mode"] == message.fields["parse_mode"] == "HTML"
    assert photo.caption is not None
    assert message.text is not None
    assert photo.caption.endswith("</b>")
    assert message.text.startswith("<b>")
    assert shown(photo.caption) + shown(message.text) == shown(caption).strip()


async def test_a_markdown_caption_that_must_split_keeps_its_entities(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """With parse_mode MarkdownV2, bold text across the split is closed and reopened with `*`."""
    caption = "*" + "bold and bright " * 100 + "* then plain\\."
    async with telegram_publisher(fake, tmp_path, parse_mode="MarkdownV2") as publisher:
        result = await publisher.publish(post_of(tmp_path, caption))
    assert result.ok, result.error
    photo, message = fake.requests
    assert photo.caption is not None
    assert message.text is not None
    assert photo.caption.startswith("*")
    assert photo.caption.endswith(" *")
    assert message.text.startswith("*bold")
    assert message.text.endswith("* then plain\\.")
    assert (photo.caption[:-1] + message.text[1:]) == caption


async def test_a_per_post_telegram_caption_replaces_the_body(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """Front matter `captions: {telegram: ...}` is what Telegram gets."""
    post = post_of(tmp_path, "For everyone", captions={"telegram": "Just for Telegram"})
    async with telegram_publisher(fake, tmp_path) as publisher:
        await publisher.publish(post)
    assert fake.requests[0].caption == "Just for Telegram"


async def test_an_empty_caption_sends_the_photo_alone(fake: FakeTelegram, tmp_path: Path) -> None:
    """A post without a caption is a photo without one, and nothing else."""
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post_of(tmp_path, "\n"))
    assert result.ok, result.error
    assert [request.method for request in fake.requests] == ["sendPhoto"]
    assert "caption" not in fake.requests[0].fields


async def test_disable_notification_makes_the_photo_silent(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """`disable_notification: true` is passed on to Telegram."""
    async with telegram_publisher(fake, tmp_path, disable_notification=True) as publisher:
        await publisher.publish(post_of(tmp_path))
    assert fake.requests[0].fields["disable_notification"] == "true"


async def test_a_12_mb_image_is_sent_as_a_document(
    fake: FakeTelegram, tmp_path: Path, big_image: Path
) -> None:
    """An image over 10 MB goes as the original file with sendDocument, and the choice is logged."""
    with capture_logs() as logs:
        async with telegram_publisher(fake, tmp_path) as publisher:
            result = await publisher.publish(post_of(tmp_path, images=(big_image,)))
    assert result.ok, result.error
    (document,) = fake.requests
    assert document.method == "sendDocument"
    assert document.upload.data == await anyio.Path(big_image).read_bytes()
    assert document.upload.filename == "big.png"
    (choice,) = [event for event in logs if event["event"] == "image.sent_as_document"]
    assert "10 MB" in choice["reason"]
    assert result.notes == (f"big.png sent as a document (the original file): {choice['reason']}",)


async def test_a_100_by_4000_image_is_sent_as_a_document(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """An aspect ratio of 40:1 is more than a photo may have."""
    tall = make_image(tmp_path / "tall.jpg", size=(100, 4000))
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post_of(tmp_path, images=(tall,)))
    assert result.ok, result.error
    assert [request.method for request in fake.requests] == ["sendDocument"]
    assert result.notes == (
        "tall.jpg sent as a document (the original file): an aspect ratio of 40.0:1 is over "
        "the 20:1 Telegram takes for a photo",
    )


async def test_oversize_scale_sends_a_big_image_as_a_smaller_photo(
    fake: FakeTelegram, tmp_path: Path, big_image: Path
) -> None:
    """With `oversize: scale` a 12 MB image arrives as a JPEG photo within 10 MB."""
    async with telegram_publisher(fake, tmp_path, oversize="scale") as publisher:
        result = await publisher.publish(post_of(tmp_path, images=(big_image,)))
    assert result.ok, result.error
    (photo,) = fake.requests
    assert photo.method == "sendPhoto"
    assert len(photo.upload.data) <= 10_000_000
    with Image.open(io.BytesIO(photo.upload.data)) as image:
        assert (image.format, image.size) == ("JPEG", (2000, 2000))
    (note,) = result.notes
    assert note.startswith("big.png sent as a photo, re-encoded as a 2000x2000 JPEG: ")
    assert note.endswith("MB is over the 10 MB Telegram takes for a photo")


async def test_oversize_scale_still_sends_a_too_narrow_image_as_a_document(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """Scaling cannot fix an aspect ratio, so a 40:1 image goes as a document even so."""
    tall = make_image(tmp_path / "tall.jpg", size=(100, 4000))
    async with telegram_publisher(fake, tmp_path, oversize="scale") as publisher:
        await publisher.publish(post_of(tmp_path, images=(tall,)))
    assert [request.method for request in fake.requests] == ["sendDocument"]


async def test_several_images_go_as_one_album(fake: FakeTelegram, tmp_path: Path) -> None:
    """A post with two images is one sendMediaGroup, the caption on the first image."""
    images = (make_image(tmp_path / "a.jpg"), make_image(tmp_path / "b.jpg", size=(30, 30)))
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post_of(tmp_path, images=images))
    assert result.ok, result.error
    (album,) = fake.requests
    assert album.method == "sendMediaGroup"
    assert [item.get("caption") for item in album.media] == ["Red sky tonight", None]
    assert [item["upload"].data for item in album.media] == [p.read_bytes() for p in images]
    assert result.notes == ()


async def test_an_album_with_one_oversize_image_notes_why_each_is_a_document(
    fake: FakeTelegram, tmp_path: Path, big_image: Path
) -> None:
    """One image too big for a photo makes the whole album documents, and the notes say why."""
    small = make_image(tmp_path / "small.jpg")
    async with telegram_publisher(fake, tmp_path) as publisher:
        result = await publisher.publish(post_of(tmp_path, images=(big_image, small)))
    assert result.ok, result.error
    big_note, small_note = result.notes
    assert big_note.startswith("big.png sent as a document (the original file): ")
    assert small_note == (
        "small.jpg sent as a document (the original file): an album's images are all photos "
        "or all documents"
    )


async def test_one_connection_serves_every_post(fake: FakeTelegram, tmp_path: Path) -> None:
    """The publisher keeps one bot and its HTTP session across posts."""
    async with telegram_publisher(fake, tmp_path) as publisher:
        for number in range(3):
            await publisher.publish(post_of(tmp_path, f"Post {number}"))
    assert len(fake.requests) == 3
    assert len({request.peer for request in fake.requests}) == 1


async def test_check_connection_names_the_bot(fake: FakeTelegram, tmp_path: Path) -> None:
    """`dropcast check --connect` calls getMe and reports the bot's username."""
    async with telegram_publisher(fake, tmp_path) as publisher:
        found = await publisher.check_connection()
    assert found == "bot @dropcast_test_bot"
    assert [request.method for request in fake.requests] == ["getMe"]
