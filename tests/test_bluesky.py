"""The bluesky platform against Bluesky's reference PDS: what arrives, read back record by record."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from atproto_client import AsyncClient, models
from PIL import Image

from daemon.frontmatter import ContentWarning
from daemon.post import Post
from daemon.progress import MemoryProgress
from daemon.publisher import PublisherContext
from daemon.publishers.bluesky import BlueskyPublisher, BlueskySettings
from daemon.publishers.bluesky.media import prepare_image
from daemon.publishers.bluesky.records import POST, split_uri
from daemon.publishers.bluesky.text import POST_LIMIT
from daemon.text_split import grapheme_count
from tests.fakes.pds import PdsServer, pds

__all__ = ["pds"]


def make_post(folder: Path, caption: str, sizes: list[tuple[int, int]], **fields: Any) -> Post:
    """A post of real JPEGs of `sizes` (each a different colour), as `read_post` makes one."""
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for number, size in enumerate(sizes, 1):
        path = folder / f"walk.{number}.jpg"
        Image.new("RGB", size, (number * 30 % 256, 90, 40)).save(path, "JPEG")
        images.append(path)
    caption_file = folder / "walk.txt"
    caption_file.write_text(caption, encoding="utf-8")
    return Post(
        stem="walk",
        images=tuple(images),
        caption_file=caption_file,
        caption=caption,
        identity=uuid.uuid4().hex,
        **fields,
    )


def publisher_for(
    pds: PdsServer, state: Path, progress: MemoryProgress | None = None, **settings: Any
) -> BlueskyPublisher:
    values = {
        "enabled": True,
        "handle": pds.alice.handle,
        "app_password": pds.alice.app_password,
        "service": pds.url,
        "retry_base_delay": 0.01,
        **settings,
    }
    context = PublisherContext(state_dir=state, progress=progress or MemoryProgress())
    return BlueskyPublisher(BlueskySettings.model_validate(values), context)


@pytest.fixture
async def reader(pds: PdsServer) -> AsyncIterator[AsyncClient]:
    """A client that reads records (getRecord needs no login)."""
    client = AsyncClient(pds.url)
    yield client
    await client.request.close()


async def read_post(reader: AsyncClient, uri: str) -> Any:
    repo, rkey = split_uri(uri)
    params = models.ComAtprotoRepoGetRecord.Params(repo=repo, collection=POST, rkey=rkey)
    return (await reader.com.atproto.repo.get_record(params)).value


async def posts_with(reader: AsyncClient, did: str, marker: str) -> list[Any]:
    """Every post in the repo whose text holds `marker`, oldest first."""
    params = models.ComAtprotoRepoListRecords.Params(
        repo=did, collection=POST, limit=100, reverse=True
    )
    records = (await reader.com.atproto.repo.list_records(params)).records
    return [record for record in records if marker in record.value.text]


async def thread_uris(
    publisher: BlueskyPublisher, progress: MemoryProgress, post: Post
) -> list[str]:
    known = await progress.for_post(post, publisher.platform_name).known()
    return [known[f"part {n}"].remote_id or "" for n in range(1, len(known) + 1)]


def byte_span(text: str, part: str) -> tuple[int, int]:
    start = text.encode().index(part.encode())
    return start, start + len(part.encode())


class TestOnePost:
    async def test_text_facets_langs_labels_alt_and_aspect_ratio_arrive(
        self, pds: PdsServer, reader: AsyncClient, tmp_path: Path
    ) -> None:
        """A post with an emoji, a mention, a link and a hashtag arrives with facets at their
        UTF-8 byte offsets, the configured language, the nudity self-label, the alt text and
        the image's aspect ratio; an unknown handle stays text, and the notes say so."""
        caption = "Été 🌅 with @bob.test and @nobody.test at https://example.com/lac #sunset"
        post = make_post(
            tmp_path / "post",
            caption,
            [(300, 200)],
            alt=("The lake at dusk",),
            content_warning=ContentWarning("nudity"),
        )
        publisher = publisher_for(pds, tmp_path / "state", language="fr")
        result = await publisher.publish(post)
        await publisher.close()
        assert result.ok, result.error
        assert result.remote_id is not None
        record = await read_post(reader, result.remote_id)
        assert record.text == caption
        assert record.langs == ["fr"]
        assert [label.val for label in record.labels.values] == ["nudity"]
        image = record.embed.images[0]
        assert image.alt == "The lake at dusk"
        assert (image.aspect_ratio.width, image.aspect_ratio.height) == (300, 200)
        spans = {(f.index.byte_start, f.index.byte_end): f.features[0] for f in record.facets}
        assert spans[byte_span(caption, "@bob.test")].did == pds.bob.did
        assert spans[byte_span(caption, "https://example.com/lac")].uri == "https://example.com/lac"
        assert spans[byte_span(caption, "#sunset")].tag == "sunset"
        assert len(spans) == 3  # not @nobody.test
        assert any("@nobody.test" in note for note in result.notes)
        assert (
            result.url
            == f"https://bsky.app/profile/alice.test/post/{split_uri(result.remote_id)[1]}"
        )

    async def test_an_image_without_alt_text_gets_an_empty_alt_and_no_label(
        self, pds: PdsServer, reader: AsyncClient, tmp_path: Path
    ) -> None:
        """`alt` is required by the lexicon: "" when the owner gave none; no warning, no labels."""
        post = make_post(tmp_path / "post", "plain", [(64, 48)])
        publisher = publisher_for(pds, tmp_path / "state")
        result = await publisher.publish(post)
        await publisher.close()
        assert result.ok
        assert result.remote_id
        record = await read_post(reader, result.remote_id)
        assert record.embed.images[0].alt == ""
        assert record.labels is None
        assert record.langs == ["en"]


class TestThreads:
    async def test_a_long_caption_becomes_a_thread_of_replies(
        self, pds: PdsServer, reader: AsyncClient, tmp_path: Path
    ) -> None:
        """A 900-grapheme caption arrives as replies, each at most 300 graphemes, each naming
        the first post as root and the one before as parent; together they are the caption."""
        marker = uuid.uuid4().hex[:8]
        sentence = "The last light over the water turns the reeds to gold. "
        caption = f"{marker} " + sentence * 8 + "\n\n" + sentence * 8 + "\n\n" + "👩‍👩‍👧 " * 5
        progress = MemoryProgress()
        post = make_post(tmp_path / "post", caption, [(64, 48)])
        publisher = publisher_for(pds, tmp_path / "state", progress)
        result = await publisher.publish(post)
        await publisher.close()
        assert result.ok, result.error
        uris = await thread_uris(publisher, progress, post)
        assert len(uris) >= 3
        assert result.remote_id == uris[0]
        records = [await read_post(reader, uri) for uri in uris]
        assert all(grapheme_count(r.text) <= POST_LIMIT for r in records)
        assert " ".join(r.text for r in records).split() == caption.split()
        assert records[0].reply is None
        assert records[0].embed is not None
        for number, record in enumerate(records[1:], 1):
            assert record.reply.root.uri == uris[0]
            assert record.reply.parent.uri == uris[number - 1]
            assert record.embed is None
        assert any("thread" in note for note in result.notes)
        assert len(await posts_with(reader, pds.alice.did, marker)) == 1

    async def test_six_images_arrive_four_then_two_with_their_alt_text(
        self, pds: PdsServer, reader: AsyncClient, tmp_path: Path
    ) -> None:
        """An album of 6 is two posts (4 images, then 2 in a reply), alt texts in order."""
        alt = tuple(f"picture {n}" for n in range(1, 7))
        sizes = [(100 + n * 10, 80) for n in range(6)]
        progress = MemoryProgress()
        post = make_post(tmp_path / "post", "Six of the walk", sizes, alt=alt)
        publisher = publisher_for(pds, tmp_path / "state", progress)
        result = await publisher.publish(post)
        await publisher.close()
        assert result.ok, result.error
        uris = await thread_uris(publisher, progress, post)
        first, second = [await read_post(reader, uri) for uri in uris]
        assert [i.alt for i in first.embed.images + second.embed.images] == list(alt)
        widths = [i.aspect_ratio.width for i in first.embed.images + second.embed.images]
        assert widths == [w for w, _ in sizes]
        assert second.reply.parent.uri == uris[0]
        assert second.text == ""
        assert any("6 images 4 to a post" in note for note in result.notes)


class TestImages:
    async def test_an_image_over_the_limit_is_reencoded_to_fit_and_the_notes_say_so(
        self, pds: PdsServer, reader: AsyncClient, tmp_path: Path
    ) -> None:
        """A noisy 2000x1500 JPEG over max_image_bytes arrives as a smaller JPEG under it."""
        folder = tmp_path / "post"
        post = make_post(folder, "big", [(10, 10)])
        noise = Image.effect_noise((2000, 1500), 80).convert("RGB")
        noise.save(post.images[0], "JPEG", quality=95)
        assert post.images[0].stat().st_size > 200_000
        publisher = publisher_for(pds, tmp_path / "state", max_image_bytes=200_000)
        result = await publisher.publish(post)
        await publisher.close()
        assert result.ok, result.error
        assert any("re-encoded" in note and "200,000" in note for note in result.notes)
        assert result.remote_id
        image = (await read_post(reader, result.remote_id)).embed.images[0]
        assert image.image.size <= 200_000
        assert abs(image.aspect_ratio.width / image.aspect_ratio.height - 4 / 3) < 0.01


def test_a_phone_photo_stored_as_mpo_is_uploaded_as_a_jpeg(tmp_path: Path) -> None:
    """Pillow reads many phones' JPEGs as MPO (a JPEG with a second picture); Bluesky gets it
    as image/jpeg, the type its bytes begin with, not image/mpo."""
    path = tmp_path / "phone.jpg"
    first, second = Image.new("RGB", (64, 48), "red"), Image.new("RGB", (32, 24), "blue")
    first.save(path, "MPO", save_all=True, append_images=[second])
    with Image.open(path) as image:
        assert image.format == "MPO"
    blob = prepare_image(path, max_bytes=1_000_000)
    assert (blob.mime_type, blob.width, blob.height) == ("image/jpeg", 64, 48)
