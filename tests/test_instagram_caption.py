"""Instagram captions: at most max_caption_chars characters and max_hashtags hashtags."""

from __future__ import annotations

import re

import pytest

from daemon.publishers.instagram.caption import (
    ELLIPSIS,
    HASHTAG,
    CaptionTooLongError,
    drop_hashtags,
    fit_caption,
    truncate,
)

WORDS = " ".join(f"word{n:04d}" for n in range(300))  # 2,699 characters of 8-letter words
LONG_CAPTION = WORDS[:2500]
FORTY_TAGS = "Sunset over the bay " + " ".join(f"#tag{n}" for n in range(1, 41))


def test_a_caption_within_both_limits_is_unchanged() -> None:
    """A short caption with few hashtags goes to Instagram exactly as written."""
    text = "Red sky tonight #sunset #sea"
    fitted = fit_caption(text, max_chars=2200, max_hashtags=30, policy="truncate")
    assert fitted.text == text
    assert not fitted.changed


def test_truncate_cuts_a_long_caption_to_the_limit_with_an_ellipsis() -> None:
    """A 2,500-character caption is cut to at most 2,200 characters ending in an ellipsis."""
    fitted = fit_caption(LONG_CAPTION, max_chars=2200, max_hashtags=30, policy="truncate")
    assert len(fitted.text) <= 2200
    assert fitted.text.endswith(ELLIPSIS)
    assert fitted.truncated


def test_truncate_cuts_at_a_word_boundary() -> None:
    """The cut caption ends with a whole word of the original, never half of one."""
    fitted = fit_caption(LONG_CAPTION, max_chars=2200, max_hashtags=30, policy="truncate")
    body = fitted.text.removesuffix(ELLIPSIS)
    assert re.fullmatch(r"(word\d{4} )*word\d{4}", body)
    assert LONG_CAPTION.startswith(body)
    assert len(fitted.text) > 2200 - len("word0000 ")  # nothing more was lost than needed


def test_truncate_keeps_the_first_hashtags_and_drops_the_rest() -> None:
    """With 40 hashtags and a limit of 30, the first 30 stay and the last 10 go."""
    fitted = fit_caption(FORTY_TAGS, max_chars=2200, max_hashtags=30, policy="truncate")
    assert HASHTAG.findall(fitted.text) == [f"#tag{n}" for n in range(1, 31)]
    assert fitted.text.startswith("Sunset over the bay #tag1 ")
    assert fitted.dropped_hashtags == 10


@pytest.mark.parametrize(
    ("text", "limits", "notes"),
    [
        ("Red sky tonight #sunset", {"max_chars": 2200, "max_hashtags": 30}, ()),
        (
            LONG_CAPTION,
            {"max_chars": 2200, "max_hashtags": 30},
            (
                "caption cut from 2,500 to 2,196 characters at a word boundary, ending in … "
                "(max_caption_chars: 2,200)",
            ),
        ),
        (
            FORTY_TAGS,
            {"max_chars": 2200, "max_hashtags": 30},
            ("10 of 40 hashtags dropped from the caption (max_hashtags: 30)",),
        ),
        (
            FORTY_TAGS,
            {"max_chars": 100, "max_hashtags": 25},
            (
                "15 of 40 hashtags dropped from the caption (max_hashtags: 25)",
                f"caption cut from {len(FORTY_TAGS)} to 95 characters at a word boundary, "
                "ending in … (max_caption_chars: 100)",
            ),
        ),
    ],
)
def test_notes_say_what_was_taken_out(
    text: str, limits: dict[str, int], notes: tuple[str, ...]
) -> None:
    """The notes for the result record say how many hashtags went and how far the text was cut."""
    fitted = fit_caption(text, **limits, policy="truncate")
    assert fitted.notes == notes
    assert fitted.changed is bool(notes)


@pytest.mark.parametrize(
    ("text", "keep", "expected"),
    [
        ("A #b #c #d", 1, "A #b"),
        ("#a #b text after", 0, "text after"),
        ("Line one\n\n#a #b #c", 2, "Line one\n\n#a #b"),
        ("tags#glued #real", 0, "tags#glued"),  # "#glued" is no hashtag: it sticks to a word
        ("Ünïcode #café #日本", 1, "Ünïcode #café"),
    ],
)
def test_drop_hashtags(text: str, keep: int, expected: str) -> None:
    """Hashtags past the first `keep` are removed with the spaces before them."""
    assert drop_hashtags(text, keep) == expected


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly ten", 11, "exactly ten"),
        ("one two three four", 10, "one two…"),
        ("one two three four", 9, "one two…"),
        ("https://example.com/a/very/long/path", 12, "https://exa…"),  # no space: hard cut
        ("trailing space then more", 16, "trailing space…"),
    ],
)
def test_truncate(text: str, limit: int, expected: str) -> None:
    """`truncate` returns at most `limit` characters, cut at a space when there is one."""
    assert truncate(text, limit) == expected
    assert len(truncate(text, limit)) <= limit


@pytest.mark.parametrize(
    ("text", "limits", "message"),
    [
        (
            LONG_CAPTION,
            {"max_chars": 2200, "max_hashtags": 30},
            "2,500 characters, 300 over the limit of 2,200 (max_caption_chars)",
        ),
        (
            FORTY_TAGS,
            {"max_chars": 2200, "max_hashtags": 30},
            "40 hashtags, 10 over the limit of 30 (max_hashtags)",
        ),
        (
            FORTY_TAGS,
            {"max_chars": 100, "max_hashtags": 25},
            f"{len(FORTY_TAGS)} characters, {len(FORTY_TAGS) - 100} over the limit of 100 "
            "(max_caption_chars) and 40 hashtags, 15 over the limit of 25 (max_hashtags)",
        ),
    ],
)
def test_fail_says_by_how_much_a_caption_is_over(
    text: str, limits: dict[str, int], message: str
) -> None:
    """Under `too_long: fail` the error names the limit and how far the caption is over it."""
    with pytest.raises(CaptionTooLongError) as raised:
        fit_caption(text, **limits, policy="fail")
    assert message in str(raised.value)
    assert "too_long: truncate" in str(raised.value)


def test_fail_accepts_a_caption_within_the_limits() -> None:
    """Under `too_long: fail` a caption within both limits passes unchanged."""
    fitted = fit_caption(FORTY_TAGS, max_chars=2200, max_hashtags=40, policy="fail")
    assert fitted.text == FORTY_TAGS
