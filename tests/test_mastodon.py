"""The Mastodon publisher against the fake Mastodon server, through Mastodon.py."""

from __future__ import annotations

import io
import itertools
import time
from dataclasses import replace
from pathlib import Path

import anyio
import pytest
from PIL import Image

from daemon.frontmatter import ContentWarning
from daemon.post import Post
from daemon.progress import DestinationState, MemoryProgress
from daemon.publishers.mastodon.api import MastodonCallError
from tests.conftest import make_image
from tests.fakes.mastodon_api import NOT_READY, FakeMastodon, Limits, fake_mastodon
from tests.fakes.mastodon_api import mastodon_publisher as publisher_for

LONG_CAPTION = (
    " ".join(
        f"Été au lac 🌅 — light number {i} over the water, a path along it." for i in range(20)
    )
    + "\n\n"
    + " ".join(
        f"See https://example.com/a/long/path/{i}/counted/as/twenty-three now." for i in range(6)
    )
    + "\n\n"
    + "A family 👨‍👩‍👧‍👦 walked by. The end."
)


def album(folder: Path, count: int, caption: str = "A walk", **fields: object) -> Post:
    images = tuple(
        make_image(folder / f"walk.{i}.jpg", size=(40 + i, 30)) for i in range(1, count + 1)
    )
    return Post(
        stem="walk",
        images=images,
        caption_file=folder / "walk.txt",
        caption=caption,
        identity=f"identity-of-walk-{count}",
        **fields,  # type: ignore[arg-type]
    )


def chain_is_a_thread(fake: FakeMastodon) -> None:
    statuses = fake.posted()
    assert statuses[0]["in_reply_to_id"] is None
    for parent, child in itertools.pairwise(statuses):
        assert child["in_reply_to_id"] == parent["id"]


class TestOnePost:
    async def test_a_post_is_one_status_with_its_image_alt_text_and_settings(
        self, tmp_path: Path
    ) -> None:
        """One image and a short caption: one status, the file as it was, the settings applied."""
        post = album(tmp_path, 1, caption="Hello lake", alt=("A red sunset over the lake",))
        async with fake_mastodon() as fake:
            publisher = publisher_for(fake, tmp_path, visibility="unlisted", language="fr")
            result = await publisher.publish(post)
            await publisher.close()
        assert result.ok, result.error
        (status,) = fake.posted()
        assert (result.remote_id, result.url) == (status["id"], status["url"])
        assert fake.text_of(status) == "Hello lake"
        assert (status["visibility"], status["language"], status["sensitive"]) == (
            "unlisted",
            "fr",
            False,
        )
        (media,) = status["media_attachments"]
        assert media["description"] == "A red sunset over the lake"
        assert fake.uploads[media["id"]] == post.images[0].read_bytes()
        assert result.notes == ()

    async def test_the_limits_are_read_once_per_session(self, tmp_path: Path) -> None:
        """Two posts by one publisher read /api/v2/instance for the limits once."""
        async with fake_mastodon() as fake:
            publisher = publisher_for(fake, tmp_path)
            for n in (1, 2):
                assert (await publisher.publish(album(tmp_path, n))).ok
            await publisher.close()
        assert fake.count("GET", "/api/v2/instance") == 1
        assert fake.count("GET", "/api/v1/instance") == 0  # the version came with it
        assert len(fake.posted()) == 2


class TestThreads:
    async def test_a_long_caption_becomes_a_thread_of_replies_nothing_cut(
        self, tmp_path: Path
    ) -> None:
        """A caption over max_characters is several statuses, each replying to the one before,
        each within the limit as Mastodon counts it, together the whole caption."""
        post = album(tmp_path, 1, caption=LONG_CAPTION)
        async with fake_mastodon() as fake:
            publisher = publisher_for(fake, tmp_path)
            result = await publisher.publish(post)
            await publisher.close()
        assert result.ok, result.error
        statuses = fake.posted()
        assert len(statuses) > 3
        chain_is_a_thread(fake)
        texts = [fake.text_of(s) for s in statuses]
        assert all(fake.status_length(t, "") <= 500 for t in texts)
        assert " ".join(" ".join(texts).split()) == " ".join(LONG_CAPTION.split())
        assert "👨‍👩‍👧‍👦" in "".join(texts)  # the family emoji was not cut apart
        assert len(statuses[0]["media_attachments"]) == 1
        assert [s["media_attachments"] for s in statuses[1:]] == [[]] * (len(statuses) - 1)
        assert any(f"split into {len(statuses)} statuses" in note for note in result.notes)
        assert result.remote_id == statuses[0]["id"]

    async def test_links_count_as_characters_reserved_per_url(self, tmp_path: Path) -> None:
        """A caption longer than max_characters only by its links' letters stays one status."""
        url = "https://example.com/" + "x" * 200
        caption = "a" * 450 + " " + url
        assert len(caption) > 500
        async with fake_mastodon() as fake:
            publisher = publisher_for(fake, tmp_path)
            result = await publisher.publish(album(tmp_path, 1, caption=caption))
            await publisher.close()
        assert result.ok, result.error
        assert [fake.text_of(s) for s in fake.posted()] == [caption]

    async def test_an_album_of_twelve_with_alt_text_and_a_warning_continues_in_replies(
        self, tmp_path: Path
    ) -> None:
        """12 images on a server that takes 4 a status: three statuses in a thread, the images
        in order with their alt text, each marked sensitive behind the warning."""
        alt = tuple(f"Photo number {i} of the walk" for i in range(1, 13))
        warning = ContentWarning("nudity", "")
        post = album(tmp_path, 12, caption=LONG_CAPTION, alt=alt, content_warning=warning)
        async with fake_mastodon() as fake:
            publisher = publisher_for(fake, tmp_path)
            result = await publisher.publish(post)
            await publisher.close()
        assert result.ok, result.error
        statuses = fake.posted()
        chain_is_a_thread(fake)
        attached = [m for s in statuses for m in s["media_attachments"]]
        assert [len(s["media_attachments"]) for s in statuses[:3]] == [4, 4, 4]
        assert [m["description"] for m in attached] == list(alt)
        assert [fake.uploads[m["id"]] for m in attached] == [p.read_bytes() for p in post.images]
        assert all(s["spoiler_text"] == "nudity" for s in statuses)
        assert all(s["sensitive"] for s in statuses)
        assert all(fake.status_length(fake.text_of(s), "nudity") <= 500 for s in statuses)
        assert any("images spread over 3 statuses (4, 4, 4" in note for note in result.notes)

    async def test_the_owners_warning_words_are_the_spoiler_text(self, tmp_path: Path) -> None:
        """ContentWarning's own text becomes spoiler_text."""
        warning = ContentWarning("graphic-media", "Surgery photos")
        async with fake_mastodon() as fake:
            publisher = publisher_for(fake, tmp_path)
            post = album(tmp_path, 1, content_warning=warning)
            assert (await publisher.publish(post)).ok
            await publisher.close()
        (status,) = fake.posted()
        assert (status["spoiler_text"], status["sensitive"]) == ("Surgery photos", True)


class TestMedia:
    async def test_an_image_over_the_servers_limits_is_reencoded_with_a_note(
        self, tmp_path: Path
    ) -> None:
        """A PNG too large in bytes and pixels for the server becomes a JPEG that fits."""
        path = tmp_path / "big.png"
        Image.effect_noise((900, 700), 80).convert("RGB").save(path, "PNG")
        limits = Limits(image_size_limit=60_000, image_matrix_limit=300_000)
        post = Post(stem="big", images=(path,), caption_file=tmp_path / "big.txt", caption="Big")
        async with fake_mastodon(limits) as fake:
            publisher = publisher_for(fake, tmp_path)
            result = await publisher.publish(post)
            await publisher.close()
        assert result.ok, result.error
        (media,) = fake.posted()[0]["media_attachments"]
        data = fake.uploads[media["id"]]
        with Image.open(io.BytesIO(data)) as sent:
            assert sent.format == "JPEG"
            assert sent.width * sent.height <= 300_000
        assert len(data) <= 60_000
        assert any(note.startswith("big.png re-encoded for Mastodon") for note in result.notes)

    async def test_alt_text_over_the_description_limit_is_cut_with_a_note(
        self, tmp_path: Path
    ) -> None:
        """Alt text longer than description_limit is cut at a word, and the record says so."""
        alt = "A very long description of the lake at dusk. " * 10
        async with fake_mastodon(Limits(description_limit=100)) as fake:
            publisher = publisher_for(fake, tmp_path)
            result = await publisher.publish(album(tmp_path, 1, alt=(alt,)))
            await publisher.close()
        assert result.ok, result.error
        (media,) = fake.posted()[0]["media_attachments"]
        assert alt.startswith(media["description"])
        assert 50 <= len(media["description"]) <= 100
        assert any("alt text of walk.1.jpg cut to" in note for note in result.notes)

    async def test_an_upload_still_processing_is_waited_for_before_the_status(
        self, tmp_path: Path
    ) -> None:
        """An upload answered 202 (url null) is looked at until processed, then attached."""
        async with fake_mastodon() as fake:
            fake.processing_looks = 2
            publisher = publisher_for(fake, tmp_path)
            result = await publisher.publish(album(tmp_path, 2))
            await publisher.close()
        assert result.ok, result.error
        assert [c.status for c in fake.calls if c.path == "/api/v2/media"] == [202, 202]
        assert fake.count("GET", "/api/v1/media/") == 6  # 206, 206 and a 200, each
        assert [c.status for c in fake.calls if c.path == "/api/v1/statuses"] == [200]

    async def test_processing_that_never_ends_fails_the_post_within_its_bound(
        self, tmp_path: Path
    ) -> None:
        """An upload still processing after media_processing_timeout: refused, no status."""
        async with fake_mastodon() as fake:
            fake.processing_looks = 10_000
            publisher = publisher_for(fake, tmp_path, media_processing_timeout=1)
            started = time.monotonic()
            result = await publisher.publish(album(tmp_path, 1))
            await publisher.close()
        assert (result.ok, result.unknown) == (False, False)
        assert "still processing on the server after 1 s" in (result.error or "")
        assert time.monotonic() - started < 3
        assert fake.posted() == []

    async def test_a_422_not_finished_processing_is_waited_for_not_failed(
        self, tmp_path: Path
    ) -> None:
        """A status refused because its media is not ready is posted again, once."""
        async with fake_mastodon() as fake:
            fake.stale_processing(2)
            publisher = publisher_for(fake, tmp_path)
            result = await publisher.publish(album(tmp_path, 1))
            await publisher.close()
        assert result.ok, result.error
        assert [c.status for c in fake.calls if c.path == "/api/v1/statuses"] == [422, 422, 200]
        assert len(fake.posted()) == 1
        assert NOT_READY  # the fake's words for it


class TestRateLimits:
    async def test_a_429_waits_for_the_reset_the_server_gave(self, tmp_path: Path) -> None:
        """A window spent before the post: a 429, a wait until X-RateLimit-Reset, then the post."""
        async with fake_mastodon() as fake:
            fake.rate_budget, fake.rate_window = 5, 1.5
            for _ in range(5):
                fake.rate_headers()  # someone else spent the window
            publisher = publisher_for(fake, tmp_path, max_retries=3)
            started = time.monotonic()
            result = await publisher.publish(album(tmp_path, 1))
            await publisher.close()
        assert result.ok, result.error
        assert fake.calls[0].status == 429
        assert time.monotonic() - started >= 1.0
        assert len(fake.posted()) == 1

    async def test_a_spent_window_is_waited_out_before_the_next_call(self, tmp_path: Path) -> None:
        """Remaining 0 after an answer: the next request waits for the reset; no 429 at all."""
        async with fake_mastodon() as fake:
            fake.rate_budget, fake.rate_window = 2, 1.0
            publisher = publisher_for(fake, tmp_path, max_retries=0)
            result = await publisher.publish(album(tmp_path, 1))
            await publisher.close()
        assert result.ok, result.error
        assert 429 not in [c.status for c in fake.calls]
        assert len(fake.posted()) == 1

    async def test_a_reset_beyond_the_publish_timeout_is_a_refusal_not_a_wait(
        self, tmp_path: Path
    ) -> None:
        """A 429 whose reset is later than the attempt may run: refused at once."""
        async with fake_mastodon() as fake:
            fake.rate_budget, fake.rate_window = 1, 600
            fake.rate_headers()
            publisher = publisher_for(fake, tmp_path, max_retries=3)
            with anyio.fail_after(10):
                with anyio.move_on_after(5):
                    result = await publisher.publish(album(tmp_path, 1))
            await publisher.close()
        assert (result.ok, result.unknown) == (False, False)
        assert "rate limited (429)" in (result.error or "")
        assert fake.count("GET", "/api/v2/instance") == 1


class TestLostAnswers:
    async def test_a_lost_answer_retried_with_its_idempotency_key_posts_once(
        self, tmp_path: Path
    ) -> None:
        """The status is made but its answer times out; the retry, same key, gets that status."""
        async with fake_mastodon() as fake:
            fake.slow_status(3)
            publisher = publisher_for(fake, tmp_path, request_timeout=1, max_retries=2)
            result = await publisher.publish(album(tmp_path, 1))
            await publisher.close()
        assert result.ok, result.error
        (status,) = fake.posted()
        assert result.remote_id == status["id"]
        assert fake.count("POST", "/api/v1/statuses") == 2

    async def test_an_unknown_part_is_found_on_the_account_and_not_posted_again(
        self, tmp_path: Path
    ) -> None:
        """No retries left: the attempt is unknown; find_published finds the status by its
        text among the account's recent ones, and nothing is posted twice."""
        progress = MemoryProgress()
        post = album(tmp_path, 1, caption="Dusk https://example.com/dusk\n\nSecond line")
        async with fake_mastodon() as fake:
            fake.slow_status(3)
            publisher = publisher_for(fake, tmp_path, progress, request_timeout=1, max_retries=0)
            lost = await publisher.publish(post)
            assert (lost.ok, lost.unknown) == (False, True)
            marks = await progress.for_post(post, "mastodon").known()
            assert marks["part 1"].state is DestinationState.UNKNOWN
            found = await publisher.find_published(post)
            await publisher.close()
        assert found is not None
        assert found.ok
        (status,) = fake.posted()
        assert found.remote_id == status["id"]
        assert any("found on the account" in note for note in found.notes)

    async def test_a_part_mentioning_a_remote_account_is_found_as_mastodon_shows_it(
        self, tmp_path: Path
    ) -> None:
        """Mastodon shows `@bob@example.social` as `@bob`: the check still finds the part and
        nothing is posted again."""
        progress = MemoryProgress()
        post = album(tmp_path, 1, caption="A walk with @bob@example.social by the lake")
        async with fake_mastodon() as fake:
            fake.slow_status(3)
            publisher = publisher_for(fake, tmp_path, progress, request_timeout=1, max_retries=0)
            assert (await publisher.publish(post)).unknown
            found = await publisher.find_published(post)
            await publisher.close()
        (status,) = fake.posted()
        assert ">@<span>bob</span></a>" in status["content"]
        assert found is not None
        assert found.remote_id == status["id"]

    async def test_a_part_beyond_the_recent_statuses_cannot_be_told(self, tmp_path: Path) -> None:
        """Not among the 40 newest statuses, a part in doubt may be further back: the check
        raises (the post stays unknown) instead of saying it is not there."""
        progress = MemoryProgress()
        lost = album(tmp_path, 1, caption="The one whose answer was lost")
        async with fake_mastodon() as fake:
            fake.slow_status(3)
            publisher = publisher_for(fake, tmp_path, progress, request_timeout=1, max_retries=0)
            assert (await publisher.publish(lost)).unknown
            for number in range(40):
                other = album(tmp_path, 1, caption=f"Another post {number}")
                assert (await publisher.publish(replace(other, identity=f"other-{number}"))).ok
            with pytest.raises(MastodonCallError, match=r"not among the account's 40 most recent"):
                await publisher.find_published(lost)
            await publisher.close()
        assert len(fake.posted()) == 41

    async def test_a_part_that_never_arrived_is_not_found(self, tmp_path: Path) -> None:
        """A part marked in doubt that the account does not have: find_published says None."""
        progress = MemoryProgress()
        post = album(tmp_path, 1)
        await progress.for_post(post, "mastodon").sending(["part 1"])
        async with fake_mastodon() as fake:
            publisher = publisher_for(fake, tmp_path, progress)
            assert await publisher.find_published(post) is None
            await publisher.close()

    async def test_a_thread_cut_short_resumes_from_the_last_part_that_arrived(
        self, tmp_path: Path
    ) -> None:
        """A crash while part 2 was on its way: it is found on the account, and only the parts
        after it are posted, the next replying to it."""
        progress = MemoryProgress()
        post = album(tmp_path, 1, caption=LONG_CAPTION)
        async with fake_mastodon() as fake:
            fake.slow_status(30, after=1)  # part 2 is made, its answer never comes in time
            publisher = publisher_for(fake, tmp_path, progress)
            with anyio.move_on_after(3):
                await publisher.publish(post)  # the "crash": the attempt is cut short
            destinations = progress.for_post(post, "mastodon")
            assert await destinations.settle_pending("no answer") == ["part 2"]
            assert await publisher.find_published(post) is None  # parts 3... are missing
            result = await publisher.publish(post)
            await publisher.close()
        assert result.ok, result.error
        statuses = fake.posted()
        chain_is_a_thread(fake)
        texts = [fake.text_of(s) for s in statuses]
        assert len(texts) == len(set(texts)) > 3  # each part once
        assert " ".join(" ".join(texts).split()) == " ".join(LONG_CAPTION.split())
        marks = await destinations.known()
        assert [marks[f"part {n}"].remote_id for n in range(1, len(statuses) + 1)] == [
            s["id"] for s in statuses
        ]


class TestRefusals:
    async def test_a_wrong_token_is_a_clear_refusal_without_the_token(self, tmp_path: Path) -> None:
        """A 401 names the setting to fix and never the token."""
        async with fake_mastodon() as fake:
            publisher = publisher_for(fake, tmp_path, access_token="wrong-token-Secret-4412")
            result = await publisher.publish(album(tmp_path, 1))
            with pytest.raises(MastodonCallError) as checked:
                await publisher.check_connection()
            await publisher.close()
        assert (result.ok, result.unknown) == (False, False)
        assert "401" in (result.error or "")
        assert "access_token" in (result.error or "")
        assert "wrong-token-Secret-4412" not in (result.error or "") + str(checked.value)
        assert fake.posted() == []

    async def test_check_connection_names_the_account_and_the_limits(self, tmp_path: Path) -> None:
        """dropcast check --connect shows who posts where, and what the server takes."""
        async with fake_mastodon() as fake:
            publisher = publisher_for(fake, tmp_path)
            found = await publisher.check_connection()
            await publisher.close()
        assert found == f"@alice on {fake.url} (500 characters and 4 images a status)"
