"""The owner's status page: what each platform's badge says, the page's text, its files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.archive import carry_out, plan_filing
from daemon.config import ApplicationConfig, load_config
from daemon.events import InboxWaiting, WaitingFile
from daemon.ledger import Delivery, DeliveryState, Ledger, PostRow, ledger_path
from daemon.page.badges import badge, safe_link
from daemon.page.model import BadgeState, local_time
from daemon.page.service import write_page
from daemon.page.snapshot import read_page
from daemon.publisher import PublishResult
from daemon.record import build_record
from daemon.registry import Registry
from tests.conftest import make_image

TOKEN = "123456789:AAHsecretsecretsecretsecretsecret12"
PASSWORD = "smtp-secret-password"
NOW = time.time()


# --- a ledger with a post in every state, built through the real Ledger and archive ------


def page_config(where: Path, registry: Registry, **page: Any) -> ApplicationConfig:
    """telegram, email and preview enabled, instagram not; secrets in the config."""
    settings = {
        "inbox": "inbox",
        "archive": "archive",
        "failed": "failed",
        "state": "state",
        "page": page,
        "platforms": {
            "telegram": {"enabled": True, "token": TOKEN, "chat_ids": ["@channel"]},
            "email": {
                "enabled": True,
                "host": "smtp.example.com",
                "username": "me@example.com",
                "password": PASSWORD,
                "sender": "me@example.com",
                "recipients": ["post@example.com"],
            },
            "preview": {"enabled": True},
            "instagram": {"enabled": False},
        },
    }
    where.mkdir(parents=True, exist_ok=True)
    path = where / "config.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    for name in ("inbox", "archive", "failed", "state"):
        (where / name).mkdir(exist_ok=True)
    return load_config(path, registry, environ={})


@dataclass
class Fixture:
    """Posts dropped, sent and filed as the daemon does, through the real ledger and archive."""

    config: ApplicationConfig
    ledger: Ledger
    ids: dict[str, int] = field(default_factory=dict)  # by the fixture's own label

    @property
    def inbox(self) -> Path:
        return self.config.core.inbox

    def drop(self, label: str, stem: str, caption: str | None, images: int = 1) -> PostRow:
        """Real image files (an album if `images` > 1) and a caption, admitted by the ledger."""
        names = (
            [f"{stem}.jpg"] if images == 1 else [f"{stem}.{n}.jpg" for n in range(1, images + 1)]
        )
        files = [
            make_image(self.inbox / name, (120, 90), colour=(40 * n % 256, 120, 200))
            for n, name in enumerate(names, start=1)
        ]
        if caption is not None:
            files.append(self.inbox / f"{stem}.txt")
            files[-1].write_text(caption, encoding="utf-8")
        row = self.ledger.open_post(f"identity-of-{label}", stem, files)
        self.ids[label] = row.id
        return row

    def answer(self, label: str, platform: str, result: PublishResult) -> None:
        post_id = self.ids[label]
        self.ledger.mark_pending(post_id, platform)
        self.ledger.mark_result(post_id, platform, result)

    def file(self, label: str, outcome: str, **decided: Any) -> Path:
        """Decide the outcome, move the files (archive, or failed/), write the record."""
        row = self.ledger.post(self.ids[label])
        core = self.config.core
        folder = core.failed if outcome == "failed" else core.archive / "2025-05-01"
        filing = plan_filing(row.files, row.stem, folder)
        row = self.ledger.decide(row.id, outcome, filing.to_json(), **decided)
        record = carry_out(filing, build_record(row, self.ledger.deliveries(row.id)))
        self.ledger.filed(row.id, record)
        return record


def sent(url: str | None = None, remote_id: str = "1") -> PublishResult:
    return PublishResult(ok=True, remote_id=remote_id, url=url)


def build_every_state(folder: Path, registry: Registry) -> Fixture:
    """Published, partial (sent + refused), unknown, waiting to retry, being sent, failed twice,
    a duplicate, a platform left out by the front matter, an album of 3, a content warning,
    an emoji and right-to-left caption, a lost image, a hostile caption and link."""
    config = page_config(folder, registry)
    fixture = Fixture(config, Ledger(ledger_path(config.core.state)))
    _published(fixture)
    _partial(fixture)
    _troubled(fixture)
    _special(fixture)
    return fixture


def _published(f: Fixture) -> None:
    f.drop("sunset", "sunset", "Red sky over the lake.\nSecond line.")
    f.answer("sunset", "telegram", sent("https://t.me/channel/42"))
    f.answer("sunset", "email", sent())
    f.answer("sunset", "preview", sent("file:///srv/dropcast/preview/index.html#sunset"))
    f.file("sunset", "published")
    f.drop("walk", "walk", "A walk in three pictures", images=3)
    f.answer("walk", "telegram", sent("https://t.me/channel/43"))
    f.answer("walk", "email", sent())
    f.answer("walk", "preview", sent())
    f.file("walk", "published")
    f.drop("duplicate", "sunset", "Red sky over the lake.\nSecond line.")
    f.file("duplicate", "duplicate", duplicate_of=f.ids["sunset"])


def _partial(f: Fixture) -> None:
    for label in ("party", "party-again"):  # the same name, dropped again once filed
        f.drop(label, "party", f"Party caption ({label})")
        f.answer(label, "telegram", sent("https://t.me/channel/50"))
        f.answer(label, "preview", sent())
        if label == "party":
            f.answer(label, "email", sent())
            f.file(label, "published")
    f.answer("party-again", "email", PublishResult.failure("550 5.2.2 mailbox full"))
    f.file("party-again", "partial")
    f.drop("lighthouse", "lighthouse", "---\nplatforms: [telegram, email]\n---\nThe lighthouse")
    f.answer("lighthouse", "telegram", PublishResult.lost("the connection dropped mid-upload"))
    f.answer("lighthouse", "email", sent())
    f.file("lighthouse", "partial")


def _troubled(f: Fixture) -> None:
    f.drop("storm", "storm", "Storm coming")
    f.answer("storm", "telegram", PublishResult.failure("429 Too Many Requests: retry after 30"))
    f.answer("storm", "email", PublishResult.failure("connection refused by smtp.example.com"))
    f.answer("storm", "preview", PublishResult.failure("disk full"))
    f.ledger.record_attempt(f.ids["storm"], NOW + 300)
    f.drop("broken", "broken", "Nobody took this one")
    for platform in ("telegram", "email", "preview"):
        f.answer("broken", platform, PublishResult.failure(f"{platform} said no"))
    f.file("broken", "failed", attempted=True)
    f.drop("notimage", "notimage", "Not really a picture")
    f.file("notimage", "failed", error="notimage.jpg: not an image (cannot identify it)")
    f.drop("inflight", "inflight", "On its way")
    f.answer("inflight", "telegram", sent("https://t.me/channel/60"))
    f.ledger.mark_pending(f.ids["inflight"], "email")


def _special(f: Fixture) -> None:
    f.drop(
        "beach",
        "beach",
        "---\ncontent_warning: nudity\nspoiler_text: Beach, nude\n---\nAt the beach",
    )
    f.answer("beach", "telegram", sent("https://t.me/channel/70"))
    f.answer("beach", "email", sent())
    f.answer("beach", "preview", sent())
    f.file("beach", "published")
    f.drop("shalom", "shalom", "שלום עולם 🌅 — ערב טוב\n🎉👩‍👩‍👧 family time")
    f.answer("shalom", "telegram", sent("https://t.me/channel/80"))
    f.answer("shalom", "email", sent())
    f.answer("shalom", "preview", sent())
    f.file("shalom", "published")
    f.drop("lost", "lost", "Its image was deleted from the archive")
    f.answer("lost", "telegram", sent("https://t.me/channel/90"))
    f.file("lost", "partial")
    next(f.config.core.archive.rglob("lost.jpg")).unlink()
    f.drop("hostile", "hostile", '<script>alert("caption")</script> & <b>bold</b>')
    f.answer("hostile", "telegram", sent("javascript:alert(1)"))
    f.answer("hostile", "email", PublishResult.failure('<img src=x onerror="alert(2)">'))
    f.answer("hostile", "preview", sent())
    f.file("hostile", "partial")


def inbox_waiting() -> InboxWaiting:
    """What the inbox says of an image without its caption and a misnamed caption."""
    return InboxWaiting(
        waiting=(
            WaitingFile("nocaption.jpg", "no caption: expected nocaption.txt", NOW - 120),
            WaitingFile(
                "cliff.txt", "no image: expected cliff.jpg; near miss: Cliff.jpg", NOW - 90
            ),
        ),
        posts=2,
    )


@pytest.fixture
def every_state(tmp_path: Path, registry: Registry) -> Iterator[Fixture]:
    fixture = build_every_state(tmp_path, registry)
    make_image(fixture.inbox / "nocaption.jpg")
    try:
        yield fixture
    finally:
        fixture.ledger.close()


# --- badges ------------------------------------------------------------------------------


def _row(**changes: Any) -> PostRow:
    values: dict[str, Any] = {
        "id": 1,
        "identity": "x",
        "stem": "sunset",
        "files": (),
        "created_at": NOW,
        "attempts": 0,
        "next_attempt_at": None,
        "outcome": "published",
        "error": None,
        "duplicate_of": None,
        "filing": None,
        "filed_at": None,
        "record_path": None,
    }
    values.update(changes)
    return PostRow(**values)


def _delivery(state: DeliveryState, error: str | None = None, url: str | None = None) -> Delivery:
    return Delivery("telegram", state, "7", url, error, 1, 10)


RETRYING = {"outcome": None, "attempts": 1, "next_attempt_at": NOW + 600}
BADGE_CASES = [
    ("sent", _delivery(DeliveryState.SENT, url="https://t.me/c/1"), {}, BadgeState.SENT, "sent"),
    (
        "refused, filed",
        _delivery(DeliveryState.FAILED, "401 bad token"),
        {},
        BadgeState.REFUSED,
        "401 bad token",
    ),
    (
        "refused, retrying",
        _delivery(DeliveryState.FAILED, "timed out"),
        RETRYING,
        BadgeState.WAITING,
        f"next attempt {local_time(NOW + 600)}; last time: timed out",
    ),
    (
        "unknown",
        _delivery(DeliveryState.UNKNOWN, "no answer"),
        {},
        BadgeState.UNKNOWN,
        "unknown: check telegram, then `dropcast retry` (no answer)",
    ),
    (
        "pending on a filed post",
        _delivery(DeliveryState.PENDING),
        {},
        BadgeState.UNKNOWN,
        "unknown: check telegram, then `dropcast retry`",
    ),
    (
        "pending in flight",
        _delivery(DeliveryState.PENDING),
        {"outcome": None},
        BadgeState.SENDING,
        "being sent now",
    ),
    (
        "not tried, retrying",
        None,
        RETRYING,
        BadgeState.WAITING,
        f"next attempt {local_time(NOW + 600)}",
    ),
    ("not tried, in flight", None, {"outcome": None}, BadgeState.WAITING, "not sent yet"),
    ("left out of a filed post", None, {}, BadgeState.DISABLED, "not among this post's platforms"),
    ("a duplicate", None, {"outcome": "duplicate"}, BadgeState.DISABLED, "not sent: a duplicate"),
]


class TestBadges:
    @pytest.mark.parametrize(
        ("delivery", "row", "state", "text"),
        [case[1:] for case in BADGE_CASES],
        ids=[case[0] for case in BADGE_CASES],
    )
    def test_each_delivery_state_has_its_badge(
        self, delivery: Delivery | None, row: dict[str, Any], state: BadgeState, text: str
    ) -> None:
        """The badge's state and words follow the delivery and whether the post is filed."""
        shown = badge("telegram", delivery, _row(**row), enabled=True)
        assert (shown.state, shown.text) == (state, text)

    def test_a_platform_not_enabled_is_disabled_whatever_the_post(self) -> None:
        """A platform in the config but switched off says so."""
        shown = badge("instagram", None, _row(outcome=None), enabled=False)
        assert (shown.state, shown.text) == (BadgeState.DISABLED, "not enabled")

    def test_a_sent_badge_links_to_the_live_post(self) -> None:
        """The delivery's URL is the badge's link."""
        delivery = _delivery(DeliveryState.SENT, url="https://t.me/c/1")
        assert badge("telegram", delivery, _row(), enabled=True).link == "https://t.me/c/1"

    @pytest.mark.parametrize(
        ("url", "link"),
        [
            ("https://t.me/c/1", True),
            ("http://example.com/p", True),
            ("file:///srv/preview/index.html#a", True),
            ("javascript:alert(1)", False),
            ("JavaScript:alert(1)", False),
            ("data:text/html,<script>", False),
            ("", False),
            (None, False),
        ],
    )
    def test_only_web_and_file_urls_become_links(self, url: str | None, link: bool) -> None:
        """A URL a platform gave is a link only if it is http, https or file."""
        assert (safe_link(url) is not None) is link


class TestTimes:
    def test_times_are_local_not_utc(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A time shows in the machine's zone, to the minute, with the zone's name."""
        monkeypatch.setenv("TZ", "Asia/Kolkata")
        time.tzset()
        try:
            assert local_time(0) == "1970-01-01 05:30 IST"
        finally:
            monkeypatch.undo()
            time.tzset()


# --- the page from the ledger ------------------------------------------------------------


def page_text(fixture: Fixture, inbox: InboxWaiting | None = None) -> str:
    return write_page(fixture.config, inbox).read_text(encoding="utf-8")


class TestPageContent:
    def test_every_post_has_a_badge_per_platform_in_the_config(self, every_state: Fixture) -> None:
        """Each post shows telegram, email, preview and instagram, instagram as not enabled."""
        model = read_page(every_state.config, None)
        assert len(model.posts) == len(every_state.ids)
        for post in model.posts:
            assert [b.platform for b in post.badges] == [
                "telegram",
                "email",
                "preview",
                "instagram",
            ]
            assert post.badges[-1].state is BadgeState.DISABLED

    def test_two_posts_named_alike_are_told_apart_by_their_archived_names(
        self, every_state: Fixture
    ) -> None:
        """The second party is party-1, dropped as party."""
        text = page_text(every_state)
        assert '<span class="name" dir="auto">party</span><span' in text
        assert '<span class="name" dir="auto">party-1</span> (dropped as party)' in text

    def test_captions_reasons_and_links_are_escaped(self, every_state: Fixture) -> None:
        """A caption, a reason and a URL from outside are text, never markup or a script."""
        text = page_text(every_state)
        assert "<script>alert" not in text
        assert "&lt;script&gt;alert(&quot;caption&quot;)&lt;/script&gt;" in text
        assert '<img src=x onerror="alert(2)">' not in text
        assert "javascript:" not in text

    def test_no_secret_reaches_the_page(self, every_state: Fixture) -> None:
        """Neither the bot token nor the SMTP password is on the page."""
        text = page_text(every_state, inbox_waiting())
        assert TOKEN not in text
        assert PASSWORD not in text

    def test_the_page_shows_the_caption_without_its_front_matter(
        self, every_state: Fixture
    ) -> None:
        """The front matter chooses; the caption's body is what shows, with its warning."""
        model = read_page(every_state.config, None)
        beach = next(p for p in model.posts if p.name == "beach")
        assert (beach.caption, beach.content_warning) == ("At the beach", "Beach, nude")

    def test_failed_posts_say_why_and_what_to_do(self, every_state: Fixture) -> None:
        """A post in failed/ names its reason and the files to move back into the inbox."""
        failed = {f.name: f for f in read_page(every_state.config, None).failed}
        assert failed["notimage"].reason == "notimage.jpg: not an image (cannot identify it)"
        assert failed["notimage"].to_do == (
            "fix it, then move notimage.jpg, notimage.txt back into inbox/"
        )
        assert failed["broken"].reason == (
            "email: email said no; preview: preview said no; telegram: telegram said no"
        )

    def test_a_failed_post_moved_back_into_the_inbox_is_no_longer_listed(
        self, every_state: Fixture
    ) -> None:
        """Once its files left failed/, the owner has done what the page asked."""
        for path in every_state.config.core.failed.glob("notimage.*"):
            path.rename(every_state.inbox / path.name)
        assert [f.name for f in read_page(every_state.config, None).failed] == ["broken"]

    def test_files_waiting_in_the_inbox_show_with_their_reason(self, every_state: Fixture) -> None:
        """The inbox's word (an image without its caption) is on the page."""
        text = page_text(every_state, inbox_waiting())
        assert '<span class="file" dir="auto">nocaption.jpg</span>' in text
        assert "no caption: expected nocaption.txt" in text
        assert "2 posts in the inbox" in text

    def test_without_a_ledger_the_page_says_there_are_no_posts_yet(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """A first start: an empty page that says what to do, not an error."""
        text = write_page(page_config(tmp_path, registry)).read_text(encoding="utf-8")
        assert "No posts yet: drop photo.jpg and photo.txt into the inbox." in text


class TestThumbnails:
    def test_an_album_gets_a_thumbnail_per_image_named_by_ledger_id(
        self, every_state: Fixture
    ) -> None:
        """walk's three images are thumbnails/<id>.1.jpg … .3.jpg, in order."""
        model = read_page(every_state.config, None)
        walk = next(p for p in model.posts if p.name == "walk")
        post_id = every_state.ids["walk"]
        assert [p.thumbnail for p in walk.pictures] == [
            f"thumbnails/{post_id}.{n}.jpg" for n in (1, 2, 3)
        ]

    def test_a_thumbnail_is_made_once(self, every_state: Fixture) -> None:
        """A second page reuses the thumbnails already made (same file, untouched)."""
        write_page(every_state.config)
        thumbnail = (
            every_state.config.core.page.folder / f"thumbnails/{every_state.ids['sunset']}.1.jpg"
        )
        before = thumbnail.stat()
        write_page(every_state.config)
        after = thumbnail.stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    def test_a_missing_image_shows_a_placeholder(self, every_state: Fixture) -> None:
        """An archived image deleted by hand is a placeholder naming it, not an error."""
        text = page_text(every_state)
        assert '<div class="placeholder">no preview: lost.jpg (gone or not readable)</div>' in text

    def test_an_image_that_cannot_be_read_shows_a_placeholder(self, every_state: Fixture) -> None:
        """A file named .jpg that is no image: a placeholder, nothing half-written left."""
        (every_state.config.core.failed / "notimage.jpg").write_bytes(b"not a picture")
        text = page_text(every_state)
        assert "no preview: notimage.jpg (gone or not readable)" in text
        thumbnails = every_state.config.core.page.folder / "thumbnails"
        assert [p.name for p in thumbnails.iterdir() if p.name.startswith(".")] == []

    def test_thumbnails_of_posts_no_longer_shown_are_removed(
        self, every_state: Fixture, registry: Registry, tmp_path: Path
    ) -> None:
        """With max_posts 2 only the two newest posts keep thumbnails."""
        write_page(every_state.config)
        smaller = page_config(tmp_path, registry, max_posts=2)
        write_page(smaller)
        kept = {p.name.split(".")[0] for p in (smaller.core.page.folder / "thumbnails").iterdir()}
        newest = sorted(every_state.ids.values())[-2:]
        assert kept <= {str(post_id) for post_id in newest}


class TestPageFile:
    def test_the_page_is_replaced_whole(self, every_state: Fixture) -> None:
        """The page is written beside and renamed over: no temporary is left behind."""
        page = write_page(every_state.config)
        assert sorted(p.name for p in page.parent.iterdir() if p.is_file()) == ["index.html"]

    def test_the_page_folder_is_relative_to_the_config(self, every_state: Fixture) -> None:
        """page.folder's default is status/ beside the config file."""
        assert (
            write_page(every_state.config) == every_state.config.path.parent / "status/index.html"
        )

    def test_the_ledger_is_only_read(self, every_state: Fixture) -> None:
        """The page's connection cannot write: a try raises."""
        reader = Ledger.read_only(every_state.ledger.path)
        try:
            with pytest.raises(Exception, match="readonly"):
                reader.record_attempt(every_state.ids["sunset"], None)
        finally:
            reader.close()
