"""The preview platform: a local gallery page of thumbnails and captions, newest first."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from daemon.frontmatter import ContentWarning
from daemon.post import Post, read_post
from daemon.publisher import PublisherContext
from daemon.publishers.preview import PreviewPublisher, PreviewSettings
from tests.conftest import make_image


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def gallery(tmp_path: Path) -> Path:
    return tmp_path / "preview"


def _publisher(tmp_path: Path, gallery: Path, max_posts: int = 200) -> PreviewPublisher:
    settings = PreviewSettings(enabled=True, folder=gallery, max_posts=max_posts)
    return PreviewPublisher(settings, PublisherContext(state_dir=tmp_path / "state"))


def _post(
    inbox: Path, stem: str, caption: str = "A caption", size: tuple[int, int] = (64, 48)
) -> Post:
    image = make_image(inbox / f"{stem}.jpg", size=size)
    caption_file = inbox / f"{stem}.txt"
    caption_file.write_text(caption, encoding="utf-8")
    return read_post(stem, image, caption_file)


def _names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def _page(gallery: Path) -> str:
    return (gallery / "index.html").read_text(encoding="utf-8")


async def test_publish_succeeds(tmp_path: Path, gallery: Path, inbox: Path) -> None:
    """Publishing a post to the preview gallery is reported as accepted."""
    result = await _publisher(tmp_path, gallery).publish(_post(inbox, "sunset"))
    assert result.ok
    assert result.error is None


async def test_publish_writes_index_html_with_caption(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """The gallery page holds the post's caption."""
    await _publisher(tmp_path, gallery).publish(_post(inbox, "sunset", "Golden hour at the pier"))
    assert "Golden hour at the pier" in _page(gallery)


async def test_publish_escapes_the_caption_as_html(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """A caption holding markup arrives escaped, never as live HTML."""
    caption = '<script>alert("x")</script> & <b>bold</b>'
    await _publisher(tmp_path, gallery).publish(_post(inbox, "evil", caption))
    page = _page(gallery)
    assert "&lt;script&gt;" in page
    assert "<script>" not in page
    assert "<b>bold</b>" not in page
    assert "&amp;" in page


async def test_publish_escapes_the_stem_as_html(tmp_path: Path, gallery: Path, inbox: Path) -> None:
    """A file name holding markup characters arrives escaped in the page."""
    await _publisher(tmp_path, gallery).publish(_post(inbox, 'a"<b>'))
    page = _page(gallery)
    assert "<b>" not in page
    assert "a&quot;&lt;b&gt;" in page


async def test_publish_writes_a_jpeg_thumbnail_of_at_most_640px(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """A large photo gets a real JPEG thumbnail no larger than 640 px on its longer side."""
    result = await _publisher(tmp_path, gallery).publish(_post(inbox, "big", size=(2000, 1000)))
    thumbnail = gallery / "thumbnails" / f"{result.remote_id}.jpg"
    with Image.open(thumbnail) as image:
        assert image.format == "JPEG"
        assert max(image.size) <= 640
        assert image.size == (640, 320)


async def test_publish_thumbnail_of_a_png_with_transparency(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """A PNG with an alpha channel still gets a JPEG thumbnail."""
    image = inbox / "alpha.png"
    Image.new("RGBA", (300, 200), (0, 128, 255, 100)).save(image, "PNG")
    caption = inbox / "alpha.txt"
    caption.write_text("see-through", encoding="utf-8")
    result = await _publisher(tmp_path, gallery).publish(read_post("alpha", image, caption))
    with Image.open(gallery / "thumbnails" / f"{result.remote_id}.jpg") as thumbnail:
        assert thumbnail.format == "JPEG"


async def test_publish_page_links_the_thumbnail(tmp_path: Path, gallery: Path, inbox: Path) -> None:
    """The page's image source is the thumbnail written beside it."""
    result = await _publisher(tmp_path, gallery).publish(_post(inbox, "sunset"))
    assert f'src="thumbnails/{result.remote_id}.jpg"' in _page(gallery)


async def test_publish_lists_the_newest_post_first(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """A later post appears above an earlier one on the page."""
    publisher = _publisher(tmp_path, gallery)
    await publisher.publish(_post(inbox, "older", "The older caption"))
    await publisher.publish(_post(inbox, "newer", "The newer caption"))
    page = _page(gallery)
    assert page.index("The newer caption") < page.index("The older caption")


async def test_publish_keeps_entries_across_publisher_instances(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """Entries live in posts.json, so a new publisher (after a restart) keeps the old ones."""
    await _publisher(tmp_path, gallery).publish(_post(inbox, "before", "Before restart"))
    await _publisher(tmp_path, gallery).publish(_post(inbox, "after", "After restart"))
    page = _page(gallery)
    assert "Before restart" in page
    assert "After restart" in page


async def test_an_entry_removed_from_posts_json_by_hand_stays_removed(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """The publisher keeps the entries in memory, yet a hand edit of posts.json between two
    posts is what the next post builds on (the edit is not overwritten by the memory)."""
    publisher = _publisher(tmp_path, gallery)
    for stem in ("kept", "unwanted"):
        await publisher.publish(_post(inbox, stem, f"Caption of {stem}"))
    entries_file = gallery / "posts.json"
    entries = json.loads(entries_file.read_text(encoding="utf-8"))
    entries_file.write_text(json.dumps([e for e in entries if e["stem"] == "kept"]), "utf-8")
    await publisher.publish(_post(inbox, "next", "Caption of next"))
    page = _page(gallery)
    assert "Caption of unwanted" not in page
    assert page.index("Caption of next") < page.index("Caption of kept")
    stems = [e["stem"] for e in json.loads(entries_file.read_text(encoding="utf-8"))]
    assert stems == ["next", "kept"]


async def test_a_damaged_posts_json_starts_a_new_gallery(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """posts.json that is not a list of entries is replaced; the post is still published."""
    gallery.mkdir()
    (gallery / "posts.json").write_text('{"not": "a list"', encoding="utf-8")
    result = await _publisher(tmp_path, gallery).publish(_post(inbox, "fresh", "Fresh"))
    assert result.ok
    stems = [e["stem"] for e in json.loads((gallery / "posts.json").read_text("utf-8"))]
    assert stems == ["fresh"]


async def test_publish_max_posts_drops_the_oldest_entry(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """With max_posts reached, the oldest entry leaves the page and posts.json."""
    publisher = _publisher(tmp_path, gallery, max_posts=2)
    for stem in ("first", "second", "third"):
        await publisher.publish(_post(inbox, stem, f"Caption of {stem}"))
    page = _page(gallery)
    assert "Caption of first" not in page
    assert "Caption of second" in page
    assert "Caption of third" in page
    entries = json.loads((gallery / "posts.json").read_text(encoding="utf-8"))
    assert [entry["stem"] for entry in entries] == ["third", "second"]


async def test_publish_max_posts_deletes_the_oldest_thumbnail(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """The thumbnail of an entry dropped by max_posts is deleted; the kept ones stay."""
    publisher = _publisher(tmp_path, gallery, max_posts=2)
    ids = [(await publisher.publish(_post(inbox, stem))).remote_id for stem in ("a", "b", "c")]
    assert _names(gallery / "thumbnails") == sorted(f"{entry_id}.jpg" for entry_id in ids[1:])


async def test_publish_url_points_at_the_entry_in_index_html(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """The result's url is index.html with the entry's id as its fragment."""
    result = await _publisher(tmp_path, gallery).publish(_post(inbox, "sunset"))
    assert result.url is not None
    assert result.remote_id is not None
    url = urlsplit(result.url)
    assert url.scheme == "file"
    assert result.url.startswith((gallery / "index.html").as_uri() + "#")
    assert url.fragment == result.remote_id
    assert f'id="{result.remote_id}"' in _page(gallery)


async def test_publish_same_stem_twice_gets_distinct_ids(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """Two posts with one stem get two entries and two thumbnails."""
    publisher = _publisher(tmp_path, gallery)
    first = await publisher.publish(_post(inbox, "same", "One"))
    second = await publisher.publish(_post(inbox, "same", "Two"))
    assert first.remote_id != second.remote_id
    assert len(_names(gallery / "thumbnails")) == 2


async def test_publish_uses_the_preview_caption_from_front_matter(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """`captions: {preview: ...}` in the front matter replaces the body on the page."""
    caption = "---\ncaptions:\n  preview: Only for the gallery\n---\nEveryone else gets this\n"
    await _publisher(tmp_path, gallery).publish(_post(inbox, "sunset", caption))
    page = _page(gallery)
    assert "Only for the gallery" in page
    assert "Everyone else gets this" not in page


async def test_publish_ignores_another_platforms_caption(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """A caption meant for another platform does not reach the gallery."""
    caption = "---\ncaptions:\n  telegram: Only for Telegram\n---\nThe body\n"
    await _publisher(tmp_path, gallery).publish(_post(inbox, "sunset", caption))
    page = _page(gallery)
    assert "The body" in page
    assert "Only for Telegram" not in page


async def test_publish_leaves_the_original_image_alone(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """Making the thumbnail never changes or moves the post's own image."""
    post = _post(inbox, "sunset", size=(1200, 900))
    before = post.image.read_bytes()
    await _publisher(tmp_path, gallery).publish(post)
    assert post.image.read_bytes() == before


async def test_publish_leaves_no_temporary_files(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """After publishing, the gallery folder holds only the page, the entries and thumbnails."""
    await _publisher(tmp_path, gallery).publish(_post(inbox, "sunset"))
    assert _names(gallery) == ["index.html", "posts.json", "thumbnails"]


FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # one emoji of 7 code points, 25 bytes in UTF-8


async def test_a_stem_near_name_max_in_bytes_is_previewed_with_short_enough_names(
    tmp_path: Path, gallery: Path, inbox: Path
) -> None:
    """A 250-byte emoji stem (the longest an inbox file with `.jpg` can have, near enough) is
    previewed three times: every thumbnail name fits NAME_MAX in bytes, cut between emoji."""
    stem = FAMILY * 10
    publisher = _publisher(tmp_path, gallery)
    results = [await publisher.publish(_post(inbox, stem, f"take {n}")) for n in range(3)]
    assert all(result.ok for result in results), [result.error for result in results]
    assert len({result.remote_id for result in results}) == 3
    thumbnails = _names(gallery / "thumbnails")
    assert len(thumbnails) == 3
    assert all(len(name.encode()) <= 255 for name in thumbnails)
    assert all(FAMILY in name and "\u200d." not in name for name in thumbnails)
    entries = json.loads((gallery / "posts.json").read_text(encoding="utf-8"))
    assert [entry["stem"] for entry in entries] == [stem] * 3


def _thumbnail_as_a_browser_finds_it(gallery: Path) -> Path:
    """The file the page's <img src> points at, read as a browser reads a URL."""
    src = html.unescape(_page(gallery).split('<img src="', 1)[1].split('"', 1)[0])
    src = "".join(char for char in src if char not in "\t\n\r")  # URLs drop these
    path = urlsplit(src).path
    return gallery / unquote(path)


@pytest.mark.parametrize("stem", ["line\nbreak", "cr\rreturn", "tab\there", "hash #1?", "100%"])
async def test_the_page_shows_the_thumbnail_of_a_stem_with_odd_characters(
    tmp_path: Path, gallery: Path, inbox: Path, stem: str
) -> None:
    """A control character, `#`, `?` or `%` in the stem: the page's <img> still finds its
    thumbnail, whose stored name has no control character; the entry keeps the stem."""
    result = await _publisher(tmp_path, gallery).publish(_post(inbox, stem))
    assert result.ok, result.error
    (thumbnail,) = _names(gallery / "thumbnails")
    assert thumbnail.isprintable()
    assert _thumbnail_as_a_browser_finds_it(gallery) == gallery / "thumbnails" / thumbnail
    entries = json.loads((gallery / "posts.json").read_text(encoding="utf-8"))
    assert entries[0]["stem"] == stem


def _album(inbox: Path, stem: str, count: int, **kwargs: Any) -> Post:
    """`<stem>.1.jpg` ... `<stem>.<count>.jpg`, each of its own width, and `<stem>.txt`."""
    images = tuple(
        make_image(inbox / f"{stem}.{number}.jpg", size=(100 + 10 * number, 50))
        for number in range(1, count + 1)
    )
    caption_file = inbox / f"{stem}.txt"
    caption_file.write_text("An album", encoding="utf-8")
    return Post(stem=stem, images=images, caption_file=caption_file, caption="An album", **kwargs)


def _entries(gallery: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((gallery / "posts.json").read_text("utf-8"))
    return entries


def _img_tags(page: str) -> list[tuple[str, str]]:
    """Each <img>'s src and alt, unescaped, in the page's order."""
    found = re.findall(r'<img src="([^"]*)" alt="([^"]*)">', page)
    return [(html.unescape(src), html.unescape(alt)) for src, alt in found]


class TestAlbums:
    async def test_an_album_shows_every_image_in_order(
        self, tmp_path: Path, gallery: Path, inbox: Path
    ) -> None:
        """Three images: three thumbnails on the page in order, each made from its own image,
        listed in posts.json."""
        result = await _publisher(tmp_path, gallery).publish(_album(inbox, "walk", 3))
        entry_id = result.remote_id
        expected = [
            f"thumbnails/{entry_id}.jpg",
            f"thumbnails/{entry_id}.2.jpg",
            f"thumbnails/{entry_id}.3.jpg",
        ]
        assert [src for src, _ in _img_tags(_page(gallery))] == expected
        widths = []
        for name in expected:
            with Image.open(gallery / name) as image:
                widths.append(image.width)
        assert widths == [110, 120, 130]
        [entry] = _entries(gallery)
        assert entry["thumbnails"] == expected
        assert entry["thumbnail"] == expected[0]

    async def test_alt_text_is_each_images_alt_escaped(
        self, tmp_path: Path, gallery: Path, inbox: Path
    ) -> None:
        """Each image's alt text is its img's alt, escaped; one without gets the stem."""
        alts = ('A "red" <sunset> & lake', "Nuit étoilée 🌌")
        await _publisher(tmp_path, gallery).publish(_album(inbox, "walk", 3, alt=alts))
        page = _page(gallery)
        assert [alt for _, alt in _img_tags(page)] == [*alts, "walk"]
        assert 'alt="A &quot;red&quot; &lt;sunset&gt; &amp; lake"' in page
        assert _entries(gallery)[0]["alt"] == [*alts, ""]

    async def test_max_posts_deletes_every_thumbnail_of_a_dropped_album(
        self, tmp_path: Path, gallery: Path, inbox: Path
    ) -> None:
        """An album leaving the gallery takes all its thumbnails with it."""
        publisher = _publisher(tmp_path, gallery, max_posts=1)
        await publisher.publish(_album(inbox, "walk", 3))
        kept = await publisher.publish(_post(inbox, "single"))
        assert _names(gallery / "thumbnails") == [f"{kept.remote_id}.jpg"]

    async def test_an_album_beside_a_post_named_like_its_thumbnails_overwrites_nothing(
        self, tmp_path: Path, gallery: Path, inbox: Path
    ) -> None:
        """A thumbnail already called like the album's second one (a post "walk.2" in the
        same second) is left alone: the album takes the next free id."""
        thumbnails = gallery / "thumbnails"
        thumbnails.mkdir(parents=True)
        now = datetime.now(UTC)
        seconds = [now + timedelta(seconds=n) for n in range(10)]  # the album is sent in these
        taken = [thumbnails / f"{moment:%Y%m%dT%H%M%S}-walk.2.jpg" for moment in seconds]
        for path in taken:
            path.write_bytes(b"the other post's thumbnail")
        result = await _publisher(tmp_path, gallery).publish(_album(inbox, "walk", 2))
        assert result.remote_id is not None
        assert result.remote_id.endswith("-walk-1")
        assert all(path.read_bytes() == b"the other post's thumbnail" for path in taken)


class TestContentWarning:
    async def test_a_warning_is_a_label_the_images_unfold_behind(
        self, tmp_path: Path, gallery: Path, inbox: Path
    ) -> None:
        """The warning's words are a visible <summary>; every image is inside the <details>,
        folded until clicked; the caption stays visible; posts.json keeps the words."""
        post = _album(inbox, "walk", 2, content_warning=ContentWarning("nudity"))
        await _publisher(tmp_path, gallery).publish(post)
        page = _page(gallery)
        article = page[page.index("<article") : page.index("</article>")]
        details = article[article.index("<details") : article.index("</details>")]
        assert '<details class="warning"><summary>Content warning: nudity' in details
        assert "open" not in details.split(">", 1)[0]
        assert len(_img_tags(details)) == 2
        assert len(_img_tags(article)) == 2
        assert "An album" in article.split("</details>", 1)[1]
        assert "<script" not in page
        assert _entries(gallery)[0]["content_warning"] == "nudity"

    async def test_the_owners_words_are_the_label_escaped(
        self, tmp_path: Path, gallery: Path, inbox: Path
    ) -> None:
        """spoiler text becomes the label, escaped as HTML."""
        warning = ContentWarning("graphic-media", "<b>surgery</b> & scars")
        await _publisher(tmp_path, gallery).publish(_album(inbox, "op", 1, content_warning=warning))
        page = _page(gallery)
        assert "Content warning: &lt;b&gt;surgery&lt;/b&gt; &amp; scars" in page
        assert "<b>surgery" not in page

    async def test_a_post_without_a_warning_has_no_details(
        self, tmp_path: Path, gallery: Path, inbox: Path
    ) -> None:
        """No warning: the images are shown at once; posts.json says null."""
        await _publisher(tmp_path, gallery).publish(_post(inbox, "sunset"))
        assert "<details" not in _page(gallery)
        assert _entries(gallery)[0]["content_warning"] is None
