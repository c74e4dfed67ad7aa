"""The status page in a real browser: Chromium loads it from file:// with no console error,
shows each platform's outcome exactly as the ledger has it, fits a phone and a desktop, light
and dark. The screenshots stay in the test's tmp folder (their paths are printed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from daemon.page.model import local_time
from daemon.page.service import write_page
from daemon.registry import Registry
from tests.fakes.browser import browser_page, needs_chromium, screenshot, show
from tests.test_page import NOW, Fixture, build_every_state, inbox_waiting

pytestmark = needs_chromium

SENT = ("sent", "", "")
RETRY = f"next attempt {local_time(NOW + 300)}; last time: "
UNKNOWN_TO_DO = "unknown: check telegram, then `dropcast retry`"
# Each post by the fixture's label: each platform's (state, words shown, link), as the ledger has it.
EXPECTED: dict[str, dict[str, tuple[str, str, str]]] = {
    "sunset": {
        "telegram": ("sent", "", "https://t.me/channel/42"),
        "email": SENT,
        "preview": ("sent", "", "file:///srv/dropcast/preview/index.html#sunset"),
    },
    "walk": {
        "telegram": ("sent", "", "https://t.me/channel/43"),
        "email": SENT,
        "preview": SENT,
    },
    "duplicate": {
        name: ("disabled", "not sent: a duplicate", "") for name in ("telegram", "email", "preview")
    },
    "party": {"telegram": ("sent", "", "https://t.me/channel/50"), "email": SENT, "preview": SENT},
    "party-again": {
        "telegram": ("sent", "", "https://t.me/channel/50"),
        "email": ("refused", "550 5.2.2 mailbox full", ""),
        "preview": SENT,
    },
    "lighthouse": {
        "telegram": ("unknown", f"{UNKNOWN_TO_DO} (the connection dropped mid-upload)", ""),
        "email": SENT,
        "preview": ("disabled", "not among this post's platforms", ""),
    },
    "storm": {
        "telegram": ("waiting", RETRY + "429 Too Many Requests: retry after 30", ""),
        "email": ("waiting", RETRY + "connection refused by smtp.example.com", ""),
        "preview": ("waiting", RETRY + "disk full", ""),
    },
    "broken": {
        name: ("refused", f"{name} said no", "") for name in ("telegram", "email", "preview")
    },
    "notimage": {
        name: ("disabled", "not sent: the post failed", "")
        for name in ("telegram", "email", "preview")
    },
    "inflight": {
        "telegram": ("sent", "", "https://t.me/channel/60"),
        "email": ("sending", "being sent now", ""),
        "preview": ("waiting", "not sent yet", ""),
    },
    "beach": {"telegram": ("sent", "", "https://t.me/channel/70"), "email": SENT, "preview": SENT},
    "shalom": {"telegram": ("sent", "", "https://t.me/channel/80"), "email": SENT, "preview": SENT},
    "lost": {
        "telegram": ("sent", "", "https://t.me/channel/90"),
        "email": ("disabled", "not among this post's platforms", ""),
        "preview": ("disabled", "not among this post's platforms", ""),
    },
    "hostile": {
        "telegram": ("sent", "", ""),  # its URL was javascript:, so no link
        "email": ("refused", '<img src=x onerror="alert(2)">', ""),
        "preview": SENT,
    },
}
BADGES_JS = """article => [...article.querySelectorAll('li.badge')].map(li => ({
    platform: li.dataset.platform, state: li.dataset.state,
    detail: li.querySelector('.detail')?.textContent ?? '',
    link: li.querySelector('a')?.getAttribute('href') ?? ''}))"""


@pytest.fixture
def shown(tmp_path: Path, registry: Registry) -> Iterator[tuple[Page, Fixture, list[str]]]:
    """The fixture's page, written by the page's own writer and opened in Chromium."""
    fixture = build_every_state(tmp_path / "dropcast", registry)
    try:
        page_file = write_page(fixture.config, inbox_waiting())
        with browser_page(tmp_path / "profile") as (page, problems):
            show(page, page_file.as_uri(), 1280, "light")
            yield page, fixture, problems.seen
    finally:
        fixture.ledger.close()


def article(page: Page, fixture: Fixture, label: str) -> Any:
    return page.locator(f"#post-{fixture.ids[label]}")


def test_the_page_loads_with_no_console_error_and_every_thumbnail(
    shown: tuple[Page, Fixture, list[str]],
) -> None:
    """No console error or warning, no failed request, every <img> decoded."""
    page, _, problems = shown
    broken = page.evaluate(
        "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert (problems, broken) == ([], [])


def test_each_badge_shows_what_the_ledger_says(shown: tuple[Page, Fixture, list[str]]) -> None:
    """For every post, each platform's state, words and link are the ledger's."""
    page, fixture, _ = shown
    for label, platforms in EXPECTED.items():
        badges = article(page, fixture, label).evaluate(BADGES_JS)
        seen = {b["platform"]: (b["state"], b["detail"], b["link"]) for b in badges}
        expected = {**platforms, "instagram": ("disabled", "not enabled", "")}
        assert seen == expected, label


def test_each_post_shows_its_caption_name_and_local_time(
    shown: tuple[Page, Fixture, list[str]],
) -> None:
    """The caption as text (markup shown, not run), the archived name, the local time."""
    page, fixture, _ = shown
    hostile = article(page, fixture, "hostile")
    assert hostile.locator(".caption").inner_text() == (
        '<script>alert("caption")</script> & <b>bold</b>'
    )
    shalom = article(page, fixture, "shalom").locator(".caption")
    assert shalom.inner_text() == "שלום עולם 🌅 — ערב טוב\n🎉👩‍👩‍👧 family time"
    assert shalom.evaluate("e => getComputedStyle(e).direction") == "rtl"
    names = [
        article(page, fixture, label).locator(".name").inner_text()
        for label in ("party", "party-again")
    ]
    assert names == ["party", "party-1"]
    row = fixture.ledger.post(fixture.ids["sunset"])
    assert article(page, fixture, "sunset").locator("time").inner_text() == local_time(
        row.created_at
    )


def test_an_album_shows_three_images_and_a_warning_folds_them(
    shown: tuple[Page, Fixture, list[str]],
) -> None:
    """walk shows 3 thumbnails; beach's image waits behind its content warning."""
    page, fixture, _ = shown
    assert article(page, fixture, "walk").locator("img").count() == 3
    beach = article(page, fixture, "beach")
    assert beach.locator("summary").inner_text() == "Content warning: Beach, nude (show)"
    assert not beach.locator("img").is_visible()
    beach.locator("summary").click()
    assert beach.locator("img").is_visible()
    assert article(page, fixture, "lost").locator(".placeholder").inner_text() == (
        "no preview: lost.jpg (gone or not readable)"
    )


def test_waiting_and_failed_posts_say_what_to_do(shown: tuple[Page, Fixture, list[str]]) -> None:
    """The caption-less image and the misnamed caption wait with their reasons; each failed
    post names its reason and what to move back into the inbox."""
    page, _, _ = shown
    waiting = page.locator("#waiting").inner_text()
    assert "nocaption.jpg" in waiting
    assert "no caption: expected nocaption.txt" in waiting
    assert "near miss: Cliff.jpg" in waiting
    failed = page.locator("#failed").inner_text()
    assert "notimage.jpg: not an image (cannot identify it)" in failed
    assert "fix it, then move notimage.jpg, notimage.txt back into inbox/" in failed
    assert "fix it, then move broken.jpg, broken.txt back into inbox/" in failed


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 390])
def test_screenshots_at_desktop_and_phone_width(
    shown: tuple[Page, Fixture, list[str]], tmp_path: Path, width: int, scheme: str
) -> None:
    """Nothing is wider than the window (no sideways scrolling on a phone), the dark scheme
    is dark; the whole page is kept as a screenshot."""
    page, _, problems = shown
    show(page, page.url, width, "dark" if scheme == "dark" else "light")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(17, 18, 20)" if scheme == "dark" else "rgb(244, 244, 241)")
    path = screenshot(page, tmp_path / f"status-{width}-{scheme}.png")
    print(f"screenshot: {path}")
    assert path.stat().st_size > 0
    assert problems == []
