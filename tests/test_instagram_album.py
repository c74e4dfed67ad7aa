"""Albums on Instagram: carousels (2 to 10 items of one shape), alt text, content warnings."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import cast

import anyio
import pytest
import requests
from PIL import Image
from structlog.testing import capture_logs

from daemon.frontmatter import ContentWarning
from daemon.post import Post, files_identity
from daemon.progress import DestinationState, MemoryProgress
from daemon.publisher import AnyPublisher
from daemon.publishers.instagram.album import carousels
from daemon.publishers.instagram.image import PreparedImage, prepare_to_size
from daemon.publishers.instagram.publisher import FOUND_NOTE, InstagramPublisher
from daemon.publishers.instagram.results import NO_CONTENT_WARNING_NOTE
from daemon.publishers.instagram.upload import Steps
from daemon.workflow import fan_out
from tests.fakes.instagram import (
    PASSWORD,
    SESSION_ID,
    FakeInstagram,
    fake_fixture,  # noqa: F401 - a pytest fixture
    feed_with,
    form,
    instagram_publisher,
    make_post,
    offline_fixture,  # noqa: F401 - a pytest fixture
    saved_state_fixture,  # noqa: F401 - a pytest fixture
)
from tests.fakes.instagram.sidecar import Item

NUDITY = ContentWarning("nudity")


@pytest.fixture
def progress() -> MemoryProgress:
    return MemoryProgress()


def colour(index: int) -> tuple[int, int, int]:
    """A colour of its own for image `index`, so the fake can tell the images apart."""
    return (20 * index % 250, 90, 240 - 15 * index % 240)


def make_album(
    folder: Path,
    sizes: list[tuple[int, int]],
    *,
    alt: tuple[str, ...] = (),
    caption: str = "A walk by the lake",
    warning: ContentWarning | None = None,
) -> Post:
    """An album post of real JPEGs of these sizes, `walk.1.jpg` ..., each of its own colour."""
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for index, size in enumerate(sizes):
        path = folder / f"walk.{index + 1}.jpg"
        Image.new("RGB", size, colour(index)).save(path, "JPEG", quality=95)
        images.append(path)
    caption_file = folder / "walk.txt"
    caption_file.write_text(caption, encoding="utf-8")
    return Post(
        stem="walk",
        images=tuple(images),
        caption_file=caption_file,
        caption=caption,
        identity=files_identity([*images, caption_file]),
        alt=alt,
        content_warning=warning,
    )


def near(item: Item, index: int) -> bool:
    """Whether `item` is image `index` (JPEG moves a colour a little)."""
    return all(abs(a - b) <= 6 for a, b in zip(item.colour, colour(index), strict=True))


def children(fake: FakeInstagram, call: int = 0) -> list[dict[str, object]]:
    metadata = form(fake.requests_to("configure_sidecar")[call])["children_metadata"]
    assert isinstance(metadata, list)
    return metadata


def rupload_params(fake: FakeInstagram) -> list[dict[str, str]]:
    return [
        json.loads(str(request.headers["X-Instagram-Rupload-Params"]))
        for request in fake.requests_to("rupload")
    ]


async def test_three_images_go_as_one_carousel_of_one_shape_with_their_alt_text(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """Three uploads as carousel items, then one configure_sidecar: its children in order,
    each with its alt text, each of the first image's (4:5) shape and size."""
    sizes = [(1080, 1350), (1600, 900), (800, 800)]
    alt = ("A red sunset over the lake", "The same lake at night", "A heron")
    post = make_album(tmp_path / "inbox", sizes, alt=alt)
    result = await instagram_publisher(state).publish(post)
    assert result.ok, result.error
    assert fake.names == ["rupload", "rupload", "rupload", "configure_sidecar"]
    uploads = rupload_params(fake)
    assert [params["is_sidecar"] for params in uploads] == ["1", "1", "1"]
    sent = children(fake)
    assert [child["upload_id"] for child in sent] == [params["upload_id"] for params in uploads]
    assert [child["custom_accessibility_caption"] for child in sent] == list(alt)
    [carousel] = fake.carousels.posted
    assert {(item.width, item.height) for item in carousel.items} == {(1080, 1350)}
    assert all(near(item, index) for index, item in enumerate(carousel.items))
    assert carousel.caption == "A walk by the lake"
    assert (result.remote_id, result.url) == (
        "DCfakeALBUM1",
        "https://www.instagram.com/p/DCfakeALBUM1/",
    )
    assert any(note.startswith("walk.2.jpg: image padded") for note in result.notes)


async def test_an_image_without_alt_text_is_sent_without_one(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """Alt text for the first image only: the others' children carry no accessibility caption."""
    post = make_album(tmp_path / "inbox", [(1080, 1080)] * 2, alt=("A heron",))
    assert (await instagram_publisher(state).publish(post)).ok
    sent = children(fake)
    assert sent[0]["custom_accessibility_caption"] == "A heron"
    assert "custom_accessibility_caption" not in sent[1]


async def test_cropping_brings_every_item_to_the_first_ones_shape(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """With fit: crop the other items are cut to the first one's shape instead of padded."""
    post = make_album(tmp_path / "inbox", [(1600, 900), (900, 1600)])
    result = await instagram_publisher(state, fit="crop").publish(post)
    assert result.ok, result.error
    [carousel] = fake.carousels.posted
    assert [(item.width, item.height) for item in carousel.items] == [(1440, 810)] * 2
    assert any(note.startswith("walk.2.jpg: image cropped") for note in result.notes)


async def test_twelve_images_go_as_two_carousels_in_order_each_with_the_caption(
    fake: FakeInstagram, state: Path, tmp_path: Path, progress: MemoryProgress
) -> None:
    """12 images: a carousel of 10 then one of 2, in order, each caption numbered; the
    result is the first, its notes say the split and where the second is."""
    post = make_album(tmp_path / "inbox", [(1080, 1080)] * 12)
    result = await instagram_publisher(state, progress).publish(post)
    assert result.ok, result.error
    first, second = fake.carousels.posted
    assert (len(first.items), len(second.items)) == (10, 2)
    items = [*first.items, *second.items]
    assert all(near(item, index) for index, item in enumerate(items))
    assert first.caption == "A walk by the lake\n\n(1/2)"
    assert second.caption == "A walk by the lake\n\n(2/2)"
    assert result.remote_id == "DCfakeALBUM1"
    assert result.notes[:2] == (
        "the album's 12 images went as 2 carousel posts of 10 and 2 images (Instagram takes "
        "at most 10 in one), each with the caption and its number (1/2 ...)",
        "carousel 2: https://www.instagram.com/p/DCfakeALBUM2/",
    )
    known = await progress.for_post(post, "instagram").known()
    assert {name: mark.remote_id for name, mark in known.items()} == {
        "carousel 1": "DCfakeALBUM1",
        "carousel 2": "DCfakeALBUM2",
    }


async def test_a_numbered_caption_fits_the_limit_with_its_number(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """The number is never cut off: the caption is shortened to leave room for it."""
    post = make_album(tmp_path / "inbox", [(1080, 1080)] * 11, caption="word " * 30)
    result = await instagram_publisher(state, max_caption_chars=60).publish(post)
    assert result.ok, result.error
    captions = [carousel.caption for carousel in fake.carousels.posted]
    assert all(len(caption) <= 60 for caption in captions)
    assert [caption.rsplit("\n\n", 1)[1] for caption in captions] == ["(1/2)", "(2/2)"]


@pytest.mark.parametrize(
    ("count", "sizes"),
    [(2, [2]), (10, [10]), (11, [9, 2]), (12, [10, 2]), (20, [10, 10]), (21, [10, 9, 2])],
)
def test_an_album_splits_into_full_carousels_and_a_last_of_at_least_two(
    count: int, sizes: list[int]
) -> None:
    parts = carousels(count)
    assert [len(part.images) for part in parts] == sizes
    assert [index for part in parts for index in part.images] == list(range(count))


async def crashed_after_carousel_1(
    fake: FakeInstagram, state: Path, post: Post, progress: MemoryProgress
) -> None:
    """An attempt that dies (an unexpected error) uploading carousel 2's first image."""
    fake.fail_after("rupload", 10, RuntimeError("the process died here"))
    with pytest.raises(RuntimeError):
        await instagram_publisher(state, progress).publish(post)
    known = await progress.for_post(post, "instagram").known()
    assert {name: mark.state for name, mark in known.items()} == {
        "carousel 1": DestinationState.SENT
    }


async def test_after_a_crash_after_carousel_1_the_album_resumes_at_carousel_2(
    fake: FakeInstagram, state: Path, tmp_path: Path, progress: MemoryProgress
) -> None:
    """A new publisher (a restart) with the same progress posts carousel 2 only."""
    post = make_album(tmp_path / "inbox", [(1080, 1080)] * 12)
    await crashed_after_carousel_1(fake, state, post, progress)
    fake.calls.clear()
    result = await instagram_publisher(state, progress).publish(post)
    assert result.ok, result.error
    assert fake.names == ["rupload", "rupload", "configure_sidecar"]
    assert [carousel.code for carousel in fake.carousels.posted] == [
        "DCfakeALBUM1",
        "DCfakeALBUM2",
    ]
    assert all(near(item, 10 + index) for index, item in enumerate(fake.carousels.posted[1].items))
    assert result.remote_id == "DCfakeALBUM1"


async def lost_carousel_2(
    fake: FakeInstagram, state: Path, tmp_path: Path, progress: MemoryProgress
) -> tuple[InstagramPublisher, Post]:
    """A publisher and a 12-image album whose carousel 2's configure answer was lost."""
    post = make_album(tmp_path / "inbox", [(1080, 1080)] * 12)
    fake.fail_after("configure_sidecar", 1, requests.exceptions.ReadTimeout("read timed out"))
    publisher = instagram_publisher(state, progress)
    result = await publisher.publish(post)
    assert result.outcome == "unknown"
    assert result.error is not None
    assert result.error.startswith("carousel 2 of 2: Instagram's answer to the post was lost")
    assert "(carousels on the account: 1; they are not posted again)" in result.error
    return publisher, post


async def test_a_lost_carousel_found_on_the_account_is_not_posted_again(
    fake: FakeInstagram, state: Path, tmp_path: Path, progress: MemoryProgress
) -> None:
    """Carousel 2's caption is in the feed (a carousel, media_type 8): found, nothing sent."""
    publisher, post = await lost_carousel_2(fake, state, tmp_path, progress)
    fake.reply(
        "user_feed", 200, feed_with(("DCfakeLATE", "A walk by the lake\n(2/2)"), media_type=8)
    )
    fake.calls.clear()
    found = await publisher.find_published(post)
    assert found is not None
    assert (found.remote_id, found.notes[-1]) == ("DCfakeALBUM1", FOUND_NOTE)
    assert "carousel 2: https://www.instagram.com/p/DCfakeLATE/" in found.notes
    assert fake.names == ["user_feed"]


async def test_a_lost_carousel_missing_from_the_account_is_sent_again_alone(
    fake: FakeInstagram, state: Path, tmp_path: Path, progress: MemoryProgress
) -> None:
    """Carousel 1's caption is there but not carousel 2's: only carousel 2 goes again, once."""
    publisher, post = await lost_carousel_2(fake, state, tmp_path, progress)
    fake.reply("user_feed", 200, feed_with(("DCfakeALBUM1", "A walk by the lake\n\n(1/2)")))
    fake.calls.clear()
    assert await publisher.find_published(post) is None
    result = await publisher.publish(post)
    assert result.ok, result.error
    assert fake.names == ["user_feed", "rupload", "rupload", "configure_sidecar"]


async def test_alt_text_on_a_single_photo_goes_with_its_configure(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """A one-image post keeps its photo configure, with the alt text as its accessibility caption."""
    post = make_post(tmp_path / "inbox")
    post = replace(post, alt=("A red sky over the harbour",))
    result = await instagram_publisher(state).publish(post)
    assert result.ok, result.error
    assert fake.names == ["rupload", "configure"]
    sent = form(fake.requests_to("configure")[0])
    assert sent["custom_accessibility_caption"] == "A red sky over the harbour"


async def test_a_single_photo_without_alt_text_sends_no_accessibility_caption(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    assert (await instagram_publisher(state).publish(make_post(tmp_path / "inbox"))).ok
    assert "custom_accessibility_caption" not in form(fake.requests_to("configure")[0])


async def test_a_content_warning_is_not_sent_and_said_once_in_the_notes(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """Instagram has no content warning: the post goes as it is, and one note says so."""
    post = make_post(tmp_path / "inbox")
    post = replace(post, content_warning=NUDITY)
    result = await instagram_publisher(state).publish(post)
    assert result.ok, result.error
    assert result.notes == (NO_CONTENT_WARNING_NOTE,)
    assert "nudity" not in json.dumps(form(fake.requests_to("configure")[0]))


async def test_an_album_with_a_content_warning_says_so_once(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    post = make_album(tmp_path / "inbox", [(1080, 1080)] * 12, warning=NUDITY)
    result = await instagram_publisher(state).publish(post)
    assert result.ok, result.error
    assert result.notes.count(NO_CONTENT_WARNING_NOTE) == 1


async def test_a_post_without_a_content_warning_has_no_such_note(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    result = await instagram_publisher(state).publish(make_post(tmp_path / "inbox"))
    assert NO_CONTENT_WARNING_NOTE not in result.notes


def prepared(folder: Path, sizes: list[tuple[int, int]]) -> list[PreparedImage]:
    """JPEGs as the publisher prepares them, each of these sizes (its shape kept)."""
    post = make_album(folder, sizes)
    return [
        prepare_to_size(path, size, fit="pad", pad_color="white")
        for path, size in zip(post.images, sizes, strict=True)
    ]


NO_STEPS = Steps(checkpoint=lambda: None, before_configure=lambda: None, request_timeout=5)


@pytest.mark.parametrize(
    ("sizes", "refusal"),
    [
        ([(1080, 1080)], "a carousel takes 2 to 10 items, not 1"),
        ([(1080, 1080)] * 11, "a carousel takes 2 to 10 items, not 11"),
        ([(1080, 1080), (1080, 1350)], "the carousel's items are not of one aspect ratio"),
        ([(1080, 1920), (1080, 1920)], "Uploaded image isn't in an allowed aspect ratio"),
    ],
)
async def test_the_fake_refuses_a_carousel_as_instagram_does(
    fake: FakeInstagram,
    state: Path,
    tmp_path: Path,
    sizes: list[tuple[int, int]],
    refusal: str,
) -> None:
    """Sent straight through the session (the publisher never sends these): refused, HTTP 400."""
    from instagrapi.exceptions import ClientError

    images = prepared(tmp_path / "inbox", sizes)
    session = instagram_publisher(state).session
    with pytest.raises(ClientError, match=refusal):
        await anyio.to_thread.run_sync(
            lambda: session.upload_carousel(images, [], "A walk", NO_STEPS)
        )
    assert fake.carousels.posted == []


async def test_each_carousel_counts_as_a_post_of_the_day(
    fake: FakeInstagram, state: Path, tmp_path: Path, progress: MemoryProgress
) -> None:
    """max_posts_per_day 1: carousel 1 goes, carousel 2 waits for the limit, without a request."""
    post = make_album(tmp_path / "inbox", [(1080, 1080)] * 12)
    result = await instagram_publisher(state, progress, max_posts_per_day=1).publish(post)
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("carousel 2 of 2: max_posts_per_day (1) reached")
    assert fake.names.count("configure_sidecar") == 1
    known = await progress.for_post(post, "instagram").known()
    assert list(known) == ["carousel 1"]


async def test_the_second_carousel_follows_at_once_within_min_interval(
    fake: FakeInstagram, state: Path, tmp_path: Path
) -> None:
    """min_interval_seconds is kept between posts, not between one album's carousels."""
    post = make_album(tmp_path / "inbox", [(1080, 1080)] * 12)
    result = await instagram_publisher(state, min_interval_seconds=600).publish(post)
    assert result.ok, result.error
    assert fake.names.count("configure_sidecar") == 2


async def mark_of(progress: MemoryProgress, post: Post, name: str) -> DestinationState | None:
    known = await progress.for_post(post, "instagram").known()
    return known[name].state if name in known else None


async def test_an_album_given_up_in_carousel_1_records_its_answer_and_sends_no_more(
    fake: FakeInstagram, state: Path, tmp_path: Path, progress: MemoryProgress
) -> None:
    """publish_timeout inside carousel 1's configure: `unknown` at once; its late answer marks
    carousel 1 sent, and the given-up thread never starts carousel 2. The next attempt posts
    carousel 2 only."""
    answer = fake.hold("configure_sidecar")
    publisher = instagram_publisher(state, progress)
    post = make_album(tmp_path / "inbox", [(1080, 1080)] * 12)
    with anyio.fail_after(3):
        result = (await fan_out(post, {"instagram": cast(AnyPublisher, publisher)}, 0.3))[
            "instagram"
        ]
    assert result.outcome == "unknown", result.error
    answer.set()
    for _ in range(250):
        if await mark_of(progress, post, "carousel 1") is DestinationState.SENT:
            break
        await anyio.sleep(0.02)
    await anyio.sleep(0.3)  # time for a carousel 2 that must not come
    assert fake.names.count("rupload") == 10
    assert await mark_of(progress, post, "carousel 2") is None
    assert await publisher.find_published(post) is None  # carousel 2 was never sent
    fake.calls.clear()
    again = await publisher.publish(post)
    assert again.ok, again.error
    assert fake.names == ["rupload", "rupload", "configure_sidecar"]


async def test_an_albums_logs_and_result_hold_neither_password_nor_session(
    fake: FakeInstagram, tmp_path: Path
) -> None:
    """A first login, carousel 1 posted, carousel 2 refused: no secret in a log line or result."""
    fake.reply("configure_sidecar", 200, {"status": "ok"})  # carousel 1: an answer, no post
    fake.fail_after("configure_sidecar", 1, requests.exceptions.ConnectionError("refused"))
    post = make_album(tmp_path / "inbox", [(1080, 1080)] * 12)
    with capture_logs() as logs:
        result = await instagram_publisher(tmp_path / "state").publish(post)
    assert not result.ok
    written = repr(logs) + repr(result)
    assert PASSWORD not in written
    assert SESSION_ID not in written
    assert SESSION_ID.split("%3A")[1] not in written
