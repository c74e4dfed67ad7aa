"""Telegram caption splitting: limits, boundaries, and markup that survives a split."""

from __future__ import annotations

import html
import random
import re
from typing import Literal

import aiohttp
import pytest
import regex

from daemon.publishers.telegram.text import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    MarkupError,
    parse,
    split_caption,
    text_length,
    visible_length,
)
from tests.fakes import tdlib
from tests.fakes.telegram_api import fake_telegram


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


def test_astral_characters_count_as_one_character() -> None:
    """Telegram counts a bot's caption in code points (this test once asserted UTF-16 units).

    It asserted that 600 emoji split at 512, as UTF-16 counts; TDLib checks a bot's caption
    with utf8_length, so 1,024 emoji fit one caption and the 1,025th starts the next piece.
    """
    assert split_caption("🌅" * 1024, None) == ["🌅" * 1024]
    pieces = split_caption("🌅" * 1025, None)
    assert [text_length(piece) for piece in pieces] == [1024, 1]


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


# --- Every part checked by TDLib, Telegram's own parser ------------------------------------

Mode = Literal["HTML", "MarkdownV2"]
EMOJI_ID = "5368324170671202286"
FAMILY = "👨\u200d👩\u200d👧\u200d👦"
FLAG = "🇺🇦"
THUMB = "👍🏽"


def formatting(
    parsed: tdlib.ParsedText,
) -> list[frozenset[tuple[str, tuple[tuple[str, str], ...]]]]:
    """For each character of the text, the entities (type and data) that cover it."""
    covers: list[set[tuple[str, tuple[tuple[str, str], ...]]]] = [set() for _ in parsed.text]
    for entity in parsed.entities:
        for index in range(entity.offset, entity.end):
            covers[index].add((entity.type, entity.data))
    return [frozenset(cover) for cover in covers]


def check_parts(caption: str, mode: Mode, parts: list[str], first: int, limit: int) -> None:
    """Every part passes TDLib and fits; together they are the caption, formatting and all."""
    tdlib.require()
    parsed = [tdlib.parse(part, mode) for part in parts]  # raises with TDLib's message
    lengths = [len(part.text) for part in parsed]
    assert lengths[0] <= first, lengths
    assert all(length <= limit for length in lengths[1:]), lengths
    original = tdlib.parse(caption, mode)
    # The parts' texts, each without the whitespace at its ends, are the caption's in order.
    kept = [(part, part.text.strip()) for part in parsed]
    pattern = r"\s*" + r"\s*".join(f"({regex.escape(text)})" for _, text in kept) + r"\s*"
    match = regex.fullmatch(pattern, original.text)
    assert match is not None, [text for _, text in kept]
    expected, got = formatting(original), []
    for index, (part, text) in enumerate(kept, start=1):
        lead = len(part.text) - len(part.text.lstrip())
        got += formatting(part)[lead : lead + len(text)]
        assert expected[match.start(index) : match.end(index)] == got[-len(text) or len(got) :]
    graphemes = [g for _, text in kept for g in regex.findall(r"\X", text)]
    assert graphemes == regex.findall(r"\X", "".join(text for _, text in kept))


SPLIT_CASES: list[tuple[str, Mode, int, str]] = [
    ("md-italic-in-underline", "MarkdownV2", 8, "___one two three four_**__"),
    ("md-underline-in-italic", "MarkdownV2", 8, "_one __two three four__ five_"),
    ("md-italic-siblings", "MarkdownV2", 6, "*_aaa_\\ _bbb ccc ddd_*"),
    ("md-nested", "MarkdownV2", 10, "*bold _italic ~strike ||spoiler|| more~ done_ end*"),
    (
        "md-escapes",
        "MarkdownV2",
        7,
        "1\\+1\\=2 \\(really\\) \\#tag \\.\\.\\. a\\\\b \\_x\\_ \\*y\\*",
    ),
    ("md-backslash-before-letter", "MarkdownV2", 4, "a\\é b\\é c\\é d\\é"),
    (
        "md-link-escaped-paren",
        "MarkdownV2",
        9,
        "[link text that is long](https://e.x/a\\)b?c=1&d=2)",
    ),
    ("md-link-at-boundary", "MarkdownV2", 10, "some text [a link](https://e.x/) more text after"),
    (
        "md-custom-emoji",
        "MarkdownV2",
        6,
        f"hi ![👍](tg://emoji?id={EMOJI_ID}) there ![👍](tg://emoji?id={EMOJI_ID})",
    ),
    ("md-tg-time", "MarkdownV2", 12, "meet ![on 14 Nov](tg://time?unix=1700000000&format=wDT) ok"),
    ("md-code", "MarkdownV2", 8, "run `a*b _c_ \\` d` now"),
    (
        "md-pre-language",
        "MarkdownV2",
        16,
        "```python\nprint('a')\nprint('b')\nprint('c')\n```\nafter",
    ),
    ("md-pre-no-language", "MarkdownV2", 10, "```\nline one\nline two\n```"),
    ("md-pre-leading-newline", "MarkdownV2", 8, "```\n\nfirst\nsecond line\n```"),
    ("md-quote", "MarkdownV2", 12, ">quoted line one\n>quoted *line two*\nafter the quote"),
    ("md-expandable-quote", "MarkdownV2", 12, "**>hidden line one\n>hidden line two||\nafter"),
    ("md-expandable-at-end", "MarkdownV2", 9, "**>one two three\n>four five six||"),
    ("md-quote-with-spoiler", "MarkdownV2", 10, ">a ||secret word here|| b\n>c||\nd"),
    ("md-bold-across-quote-lines", "MarkdownV2", 9, ">*bold one\n>bold two*\nplain"),
    ("md-two-quotes", "MarkdownV2", 6, ">one two\n**>three four"),
    ("md-bold-around-quote", "MarkdownV2", 8, "*lead\n>in quote\n*tail"),
    ("md-emoji-sequences", "MarkdownV2", 8, f"*{FAMILY}{FAMILY}{FLAG}{FLAG}{THUMB}{THUMB}*"),
    ("html-href-gt", "HTML", 8, '<a href="https://e.x/?q=a>b">link text here</a>'),
    ("html-href-amp", "HTML", 8, "<a href='https://e.x/?a=1&amp;b=2'>link &amp; text</a>"),
    ("html-nested", "HTML", 9, "<b>bold <i>italic <u>under <s>strike</s></u></i> tail</b>"),
    ("html-aliases", "HTML", 7, "<strong>a b</strong> <em>c d</em> <ins>e f</ins> <del>g h</del>"),
    (
        "html-spoilers",
        "HTML",
        8,
        '<tg-spoiler>one two</tg-spoiler> <span class="tg-spoiler">three four</span>',
    ),
    ("html-entities", "HTML", 5, "&lt;tag&gt; &amp;amp &#128512;&#x1F600; &quot;q&quot;"),
    (
        "html-custom-emoji",
        "HTML",
        4,
        f'a <tg-emoji emoji-id="{EMOJI_ID}">👍</tg-emoji> b <tg-emoji emoji-id="{EMOJI_ID}">👍</tg-emoji>',
    ),
    (
        "html-tg-time",
        "HTML",
        10,
        'at <tg-time unix="1700000000" format="wDT">14 Nov 2023</tg-time> ok',
    ),
    (
        "html-pre-language",
        "HTML",
        12,
        '<pre><code class="language-python">print(1)\nprint(2)\n</code></pre>',
    ),
    ("html-pre", "HTML", 8, "<pre>plain pre block\nsecond line</pre>"),
    ("html-code", "HTML", 6, "run <code>a &lt; b &amp;&amp; c</code> now"),
    ("html-blockquote", "HTML", 10, "<blockquote>quoted <b>bold</b> text here</blockquote>after"),
    ("html-expandable", "HTML", 10, "<blockquote expandable>hidden quoted text</blockquote>"),
    ("html-entity-at-boundary", "HTML", 5, "<b>abcd</b><i>efgh</i><u>ijkl</u>"),
    ("html-family", "HTML", 8, f"<b>{FAMILY}{FAMILY}{FAMILY}</b>"),
    ("html-flags", "HTML", 3, f"<i>{FLAG}{FLAG}{FLAG}</i>"),
    ("html-skin-tones", "HTML", 3, f"<u>{THUMB}{THUMB}{THUMB}</u>"),
    ("html-combining", "HTML", 3, "<b>e\u0301e\u0301e\u0301</b>"),
    ("html-no-href", "HTML", 12, "<a>https://e.x/long/path</a>"),
]


@pytest.mark.parametrize(
    ("mode", "limit", "caption"),
    [case[1:] for case in SPLIT_CASES],
    ids=[case[0] for case in SPLIT_CASES],
)
def test_every_part_passes_tdlib_and_joins_to_the_caption(
    mode: Mode, limit: int, caption: str
) -> None:
    """Each part is markup Telegram accepts, and the parts carry the caption's formatting."""
    tdlib.require()
    tdlib.parse(caption, mode)  # the case itself is valid
    parts = split_caption(caption, mode, limit, limit)
    assert len(parts) > 1
    check_parts(caption, mode, parts, limit, limit)


def test_a_link_whose_address_holds_a_gt_is_reopened_whole() -> None:
    """`>` inside a quoted href does not end the tag, so the address survives the split."""
    tdlib.require()
    parts = split_caption('<a href="https://e.x/?q=a>b">link text here</a>', "HTML", 8, 8)
    for part in parts:
        (entity,) = tdlib.parse(part, "HTML").entities
        assert entity.data == (("url", '"https://e.x/?q=a>b"'),)


def test_an_expandable_quote_stays_expandable_in_every_part() -> None:
    """The `||` that makes a quote expandable is not taken for a spoiler and doubled."""
    tdlib.require()
    caption = "**>hidden line one\n>hidden line two||\nafter"
    parts = split_caption(caption, "MarkdownV2", 12, 12)
    assert not any("||||" in part for part in parts)
    types = {e.type for part in parts for e in tdlib.parse(part, "MarkdownV2").entities}
    assert types == {"ExpandableBlockQuote"}


@pytest.mark.parametrize(
    "unit", [FAMILY, FLAG, THUMB, "e\u0301"], ids=["zwj-family", "flag", "skin-tone", "combining"]
)
def test_a_hard_cut_never_splits_a_grapheme(unit: str) -> None:
    """With no whitespace to break at, parts still end between grapheme clusters."""
    caption = unit * 9
    parts = split_caption(caption, None, 8, 8)
    assert "".join(parts) == caption
    assert all(regex.fullmatch(rf"(?:{regex.escape(unit)})+", part) for part in parts)
    assert all(len(part) <= 8 for part in parts)


def test_a_grapheme_longer_than_the_limit_is_cut_rather_than_refused() -> None:
    """A single cluster longer than a part (here a ZWJ family, 7 code points) is cut to fit."""
    assert all(len(part) <= 4 for part in split_caption(FAMILY * 2, None, 4, 4))


def test_a_custom_emoji_is_never_cut() -> None:
    """A custom emoji over a ZWJ sequence stays whole in one part, with its id."""
    tdlib.require()
    caption = f'ab <tg-emoji emoji-id="{EMOJI_ID}">{FAMILY}</tg-emoji>cd'
    parts = split_caption(caption, "HTML", 8, 8)
    emoji = [e for p in parts for e in tdlib.parse(p, "HTML").entities if e.type == "CustomEmoji"]
    assert [e.length for e in emoji] == [len(FAMILY)]


def test_tdlib_knows_tg_time() -> None:
    """This TDLib reads `<tg-time>` and `tg://time` as a date-time entity."""
    tdlib.require()
    html_time = tdlib.parse('<tg-time unix="1700000000" format="wDT">x</tg-time>', "HTML")
    md_time = tdlib.parse("![x](tg://time?unix=1700000000&format=wDT)", "MarkdownV2")
    assert [e.type for e in html_time.entities + md_time.entities] == ["DateTime", "DateTime"]


def test_1024_astral_characters_fit_one_caption_as_tdlib_counts() -> None:
    """TDLib's length after parsing is in code points: 1,024 emoji are one caption."""
    tdlib.require()
    caption = "<b>" + "🌅" * 1024 + "</b>"
    assert split_caption(caption, "HTML") == [caption]
    assert tdlib.parsed_length(caption, "HTML") == CAPTION_LIMIT


# --- Random formatted captions --------------------------------------------------------------

WORDS = ["sunset", "a", "über", "🌅", FAMILY, FLAG, THUMB, "e\u0301", "long" * 4, "x"]
SPACES = [" "] * 6 + ["\n"]


def random_html(chooser: random.Random, depth: int = 0, used: frozenset[str] = frozenset()) -> str:
    """Words and nested tags (no tag inside itself), some at the top level only."""
    parts = []
    for _ in range(chooser.randint(1, 5)):
        parts.append(_html_item(chooser, depth, used))
        parts.append(chooser.choice(SPACES))
    return "".join(parts)


def _html_item(chooser: random.Random, depth: int, used: frozenset[str]) -> str:
    word = html.escape(chooser.choice([*WORDS, "a<b", "&", '"q"']), quote=False)
    tags = [t for t in ("b", "i", "u", "s", "tg-spoiler", "a") if t not in used]
    roll = chooser.random()
    if depth >= 3 or roll < 0.45 or not tags:
        return word
    if roll < 0.55:
        return f'<tg-emoji emoji-id="{EMOJI_ID}">{chooser.choice(["👍", FAMILY])}</tg-emoji>'
    if roll < 0.6:
        return f"<code>{word} {word}</code>"
    if roll < 0.65 and depth == 0:
        return f'<pre><code class="language-py">{word}\n{word}</code></pre>'
    if roll < 0.7 and depth == 0:
        return f"<blockquote{chooser.choice(['', ' expandable'])}>{random_html(chooser, 1)}</blockquote>"
    if roll < 0.73:
        return f'<tg-time unix="1700000000" format="wDT">{word}</tg-time>'
    tag = chooser.choice(tags)
    opener = '<a href="https://e.x/?q=a>b&amp;c">' if tag == "a" else f"<{tag}>"
    return f"{opener}{random_html(chooser, depth + 1, used | {tag})}</{tag}>"


_MD_PAIRS = {"b": ("*", "*"), "i": ("_", "_"), "u": ("__", "__"), "s": ("~", "~")}
_MD_PAIRS |= {"p": ("||", "||"), "a": ("[", "](https://e.x/a\\)b)")}
_MD_WORDS = [*WORDS, "1\\+1\\=2", "\\(x\\)", "a\\.b", "\\_u\\_", "\\\\", "\\>", "\\!"]


def random_markdown(chooser: random.Random) -> str:
    """Lines of inline MarkdownV2, some of them quotes (some expandable) or pre blocks."""
    lines = []
    for _ in range(chooser.randint(1, 4)):
        roll = chooser.random()
        if roll < 0.2:
            lines.append("```py\n" + _md_inline(chooser, 2, frozenset("biuspa")) + "\n```")
        elif roll < 0.45:
            quoted = [_md_inline(chooser, 0, frozenset()) for _ in range(chooser.randint(1, 3))]
            expandable = chooser.random() < 0.5
            lines.append(("**>" if expandable else ">") + "\n>".join(quoted))
            lines[-1] += "||" if expandable else ""
        else:
            lines.append(_md_inline(chooser, 0, frozenset()))
    return chooser.choice(["\n", "\n\n"]).join(lines)


def _md_inline(chooser: random.Random, depth: int, used: frozenset[str]) -> str:
    parts = []
    for _ in range(chooser.randint(1, 4)):
        parts.append(_md_item(chooser, depth, used))
        parts.append(" ")
    return "".join(parts).rstrip()


def _md_item(chooser: random.Random, depth: int, used: frozenset[str]) -> str:
    word = chooser.choice(_MD_WORDS)
    kinds = [kind for kind in _MD_PAIRS if kind not in used]
    roll = chooser.random()
    if depth >= 2 or roll < 0.4 or not kinds:
        return word
    if roll < 0.5:
        return f"![{chooser.choice(['👍', FAMILY])}](tg://emoji?id={EMOJI_ID})"
    if roll < 0.55:
        return "`" + word.replace("\\", "") + " a*b`"
    kind = chooser.choice(kinds)
    opener, closer = _MD_PAIRS[kind]
    inner = _md_inline(chooser, depth + 1, used | {kind} | ({"b", "i"} if kind == "u" else set()))
    return f"{opener}{inner}{closer}"


def _valid(caption: str, mode: Mode) -> bool:
    try:
        tdlib.parse(caption, mode)
    except tdlib.ParseError:
        return False
    return True


@pytest.mark.parametrize("mode", ["HTML", "MarkdownV2"])
def test_random_formatted_captions_split_into_parts_tdlib_accepts(mode: Mode) -> None:
    """300 seeded random captions per mode, split small: every part passes TDLib and joins back."""
    tdlib.require()
    chooser = random.Random(f"dropcast-{mode}")
    checked = 0
    for _ in range(300):
        caption = random_html(chooser) if mode == "HTML" else random_markdown(chooser)
        if not _valid(caption, mode):
            continue  # the generator's rare slip: a caption Telegram itself would refuse
        first, limit = chooser.randint(8, 30), chooser.randint(8, 40)  # a ZWJ family is 7
        parts = split_caption(caption, mode, first, limit)
        check_parts(caption, mode, parts, first, limit)
        checked += 1
    assert checked >= 270


MUTATIONS = "<>&;/\"'*_~|`[]()!\\\n# "


@pytest.mark.parametrize("mode", ["HTML", "MarkdownV2"])
def test_the_splitter_reads_markup_as_tdlib_does(mode: Mode) -> None:
    """On 1,000 random and damaged captions, the splitter's reader agrees with TDLib's.

    Both accept or both refuse, and an accepted one reads as the same plain text.
    """
    tdlib.require()
    chooser = random.Random(f"reader-{mode}")
    for _ in range(1000):
        caption = random_html(chooser) if mode == "HTML" else random_markdown(chooser)
        for _ in range(chooser.randint(0, 2)):
            at = chooser.randrange(len(caption) + 1)
            cut = chooser.randint(0, 2)
            caption = (
                caption[:at]
                + chooser.choice(MUTATIONS) * chooser.randint(0, 1)
                + caption[at + cut :]
            )
        try:
            expected: str | None = tdlib.parse(caption, mode).text
        except tdlib.ParseError:
            expected = None
        try:
            got: str | None = parse(caption, mode).text
        except MarkupError:
            got = None
        assert got == expected, caption


def test_markup_telegram_refuses_is_sent_as_written() -> None:
    """An unclosed tag is not repaired: the pieces are the text as is, and Telegram says why."""
    caption = "<b>never closed " + "word " * 10
    assert "".join(split_caption(caption, "HTML", 20, 20)) == caption.strip()


# --- The fake Bot API reads captions with TDLib -------------------------------------------


async def _send(fields: dict[str, str]) -> tuple[int, str]:
    async with fake_telegram() as fake, aiohttp.ClientSession() as session:
        url = f"{fake.url}/bot{fake.token}/sendMessage"
        async with session.post(url, data={"chat_id": "@channel", **fields}) as response:
            answer = await response.json()
            return response.status, str(answer.get("description", ""))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"text": "___one two ___", "parse_mode": "MarkdownV2"},
            "Bad Request: can't parse entities: Can't find end of Italic entity at byte offset 13",
        ),
        (
            {"text": '<a href="https://e.x/?q=a>x</a>', "parse_mode": "HTML"},
            "Bad Request: can't parse entities: Unclosed start tag at byte offset 0",
        ),
        ({"text": "🌅" * 4097}, "Bad Request: message is too long"),
        ({"text": "hi", "parse_mode": "Textile"}, "Bad Request: unsupported parse_mode"),
        ({"text": "<b>" + "🌅" * 4096 + "</b>", "parse_mode": "HTML"}, ""),
    ],
    ids=["bad-markdown", "bad-html", "too-long", "bad-mode", "4096-astral-fit"],
)
async def test_the_fake_bot_api_refuses_what_telegram_refuses(
    fields: dict[str, str], expected: str
) -> None:
    """The fake answers 400 with TDLib's own message, and counts code points after parsing."""
    status, description = await _send(fields)
    assert (status, description) == ((400, expected) if expected else (200, ""))
