"""Telegram caption splitting: limits, boundaries, and markup that survives a split."""

from __future__ import annotations

import html
import random
import re

import pytest

from daemon.publishers._telegram_text import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    split_caption,
    text_length,
    visible_length,
)


def shown_html(piece: str) -> str:
    return html.unescape(re.sub(r"<[^<>]*>", "", piece))


def random_caption(seed: int, length: int) -> str:
    """Words, lines and paragraphs of random lengths, some with emoji."""
    chooser = random.Random(seed)
    words = ["sunset", "a", "red", "sky", "tonight", "über", "🌅", "long" * 5, "x"]
    separators = [" "] * 20 + ["\n"] * 3 + ["\n\n"]
    parts: list[str] = []
    while sum(map(len, parts)) < length:
        parts += [chooser.choice(words), chooser.choice(separators)]
    return "".join(parts).strip()


@pytest.mark.parametrize(
    ("caption", "first_limit", "limit", "expected"),
    [
        ("short", 10, 10, ["short"]),
        ("", 10, 10, []),
        ("  \n\n ", 10, 10, []),
        ("one two three four", 10, 10, ["one two ", "three four"]),
        ("para one\n\npara two", 15, 15, ["para one\n\n", "para two"]),
        ("line one\nline two", 15, 15, ["line one\n", "line two"]),
        ("abcdefghijkl", 5, 5, ["abcde", "fghij", "kl"]),
        ("aa\n\nbb cc dd ee", 12, 12, ["aa\n\nbb cc ", "dd ee"]),
        ("aaaa bbbb cccc", 10, 10, ["aaaa bbbb ", "cccc"]),
    ],
    ids=[
        "fits",
        "empty",
        "blank",
        "words",
        "paragraphs",
        "lines",
        "no-boundary",
        "early-paragraph",
        "at-the-limit",
    ],
)
def test_plain_captions_split_at_the_best_boundary(
    caption: str, first_limit: int, limit: int, expected: list[str]
) -> None:
    """A plain caption breaks at a paragraph, else a line, else a word, else between characters."""
    assert split_caption(caption, None, first_limit, limit) == expected


def test_a_paragraph_break_in_the_second_half_beats_a_later_word_break() -> None:
    """The photo takes a whole paragraph rather than a few more words."""
    caption = "a" * 60 + "\n\n" + "b " * 40
    pieces = split_caption(caption, None, 100, 100)
    assert pieces[0] == "a" * 60 + "\n\n"


def test_a_paragraph_break_early_in_the_piece_is_not_worth_the_space() -> None:
    """A paragraph break in the first half loses to a word break near the limit."""
    caption = "a" * 10 + "\n\n" + "b " * 60
    pieces = split_caption(caption, None, 100, 100)
    assert len(pieces[0]) > 90


@pytest.mark.parametrize("seed", range(8))
def test_split_pieces_fit_their_limits_and_join_to_the_caption(seed: int) -> None:
    """Whatever the caption, every piece fits its limit and nothing is lost or reordered."""
    caption = random_caption(seed, 9000)
    pieces = split_caption(caption, None)
    assert "".join(pieces) == caption
    assert text_length(pieces[0]) <= CAPTION_LIMIT
    assert all(text_length(piece) <= MESSAGE_LIMIT for piece in pieces[1:])


def test_emoji_count_as_two_characters() -> None:
    """Telegram counts UTF-16 code units, so 600 emoji do not fit a 1024-character caption."""
    pieces = split_caption("🌅" * 600, None)
    assert text_length(pieces[0]) == 1024
    assert "".join(pieces) == "🌅" * 600


def test_html_entities_count_as_one_character() -> None:
    """`&amp;` is one character once Telegram has parsed it, and tags are none."""
    assert visible_length("<b>a &amp; b</b>", "HTML") == 5


def test_an_html_tag_that_spans_a_split_is_closed_and_reopened() -> None:
    """Bold text cut in two stays bold in both pieces, and each piece is well-formed."""
    caption = "<b>" + "bold " * 10 + "</b>end"
    pieces = split_caption(caption, "HTML", 20, 20)
    assert pieces[0] == "<b>bold bold bold bold </b>"
    assert all(piece.startswith("<b>") for piece in pieces[:-1])
    assert all(piece.count("<b>") == piece.count("</b>") for piece in pieces)
    assert "".join(shown_html(piece) for piece in pieces) == shown_html(caption)


def test_an_html_link_is_reopened_with_its_address() -> None:
    """A link cut in two points at the same address in both pieces."""
    caption = '<a href="https://example.com/?a=1&amp;b=2">' + "link " * 10 + "</a>"
    pieces = split_caption(caption, "HTML", 20, 20)
    assert all(piece.startswith('<a href="https://example.com/?a=1&amp;b=2">') for piece in pieces)
    assert all(piece.endswith("</a>") for piece in pieces)


def test_an_html_entity_is_never_cut() -> None:
    """A hard cut falls between entities, never inside `&amp;`."""
    caption = "&amp;" * 30
    pieces = split_caption(caption, "HTML", 7, 7)
    assert all(re.fullmatch(r"(&amp;)+", piece) for piece in pieces)
    assert [visible_length(piece, "HTML") for piece in pieces] == [7, 7, 7, 7, 2]


def test_nested_html_tags_reopen_in_order() -> None:
    """`<b><i>` open at a split is closed as `</i></b>` and reopened as `<b><i>`."""
    caption = "<b><i>" + "word " * 10 + "</i></b>"
    pieces = split_caption(caption, "HTML", 20, 20)
    assert pieces[0].endswith("</i></b>")
    assert pieces[1].startswith("<b><i>")


def test_a_markdown_entity_that_spans_a_split_is_closed_and_reopened() -> None:
    """MarkdownV2 bold cut in two is closed with `*` and reopened with `*`."""
    caption = "*" + "bold " * 10 + "* after"
    pieces = split_caption(caption, "MarkdownV2", 20, 20)
    assert pieces[0] == "*bold bold bold bold *"
    assert pieces[1].startswith("*bold")


def test_a_markdown_escape_is_never_cut() -> None:
    """`\\.` is one visible character and stays whole."""
    caption = "\\." * 30
    pieces = split_caption(caption, "MarkdownV2", 7, 7)
    assert all(re.fullmatch(r"(\\\.)+", piece) for piece in pieces)


def test_a_markdown_link_is_reopened_with_its_address() -> None:
    """A MarkdownV2 link cut in two ends each piece with its `](url)`."""
    caption = "[" + "link " * 10 + "](https://example.com/a\\)b)"
    pieces = split_caption(caption, "MarkdownV2", 20, 20)
    assert all(piece.startswith("[") for piece in pieces)
    assert all(piece.endswith("](https://example.com/a\\)b)") for piece in pieces)


def test_markdown_delimiters_inside_code_are_text() -> None:
    """Inside a code span `*` opens nothing, so no stray `*` is added at a split."""
    caption = "`" + "a*b " * 10 + "`"
    pieces = split_caption(caption, "MarkdownV2", 20, 20)
    assert all(piece.startswith("`") and piece.endswith("`") for piece in pieces)
    assert all(piece.count("*") == piece.count("a*b") for piece in pieces)
