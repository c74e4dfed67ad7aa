"""Caption files: the optional YAML front matter (`parse_caption`) and reading them as text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from daemon.frontmatter import (
    Caption,
    ContentWarning,
    ContentWarningChoice,
    FrontMatterError,
    Overrides,
    parse_caption,
)
from daemon.post import PostRejectedError
from tests.helpers import read_caption_text

# (caption file text, expected body, expected platforms, expected captions)
PARSE_CASES: list[tuple[str, str, tuple[str, ...] | None, dict[str, str]]] = [
    ("A sunset over the bay.\n", "A sunset over the bay.\n", None, {}),
    ("", "", None, {}),
    ("No newline at the end", "No newline at the end", None, {}),
    (
        "---\nplatforms: [telegram, email]\n---\nHello\n",
        "Hello\n",
        ("telegram", "email"),
        {},
    ),
    ("---\nplatforms:\n  - email\n---\nHi\n", "Hi\n", ("email",), {}),
    (
        "---\ncaptions:\n  telegram: Short one.\n  email: |\n    Long\n    one.\n---\nBody\n",
        "Body\n",
        None,
        {"telegram": "Short one.", "email": "Long\none.\n"},
    ),
    (
        "---\nplatforms: [telegram]\ncaptions: {telegram: Just for TG}\n---\nEveryone else\n",
        "Everyone else\n",
        ("telegram",),
        {"telegram": "Just for TG"},
    ),
    (
        "---\r\nplatforms: [email]\r\n---\r\nLine one\r\nLine two\r\n",
        "Line one\r\nLine two\r\n",
        ("email",),
        {},
    ),
    ("---\n---\nBody after empty front matter\n", "Body after empty front matter\n", None, {}),
    ("---\n# only a comment\n---\nBody\n", "Body\n", None, {}),
    ("---\nplatforms: [email]\n---", "", ("email",), {}),
    ("---\nplatforms: [email]\n---\n", "", ("email",), {}),
    (
        "Intro line\n---\nplatforms: [email]\n---\nmore\n",
        "Intro line\n---\nplatforms: [email]\n---\nmore\n",
        None,
        {},
    ),
    ("\n---\nplatforms: [email]\n---\n", "\n---\nplatforms: [email]\n---\n", None, {}),
    (" ---\nplatforms: [email]\n---\n", " ---\nplatforms: [email]\n---\n", None, {}),
    ("----\nnot a fence\n----\n", "----\nnot a fence\n----\n", None, {}),
    (
        "---\nplatforms: [email]\n---\n\n  Indented line\n\n#tag ---\n---\nafter a rule  \n\n",
        "\n  Indented line\n\n#tag ---\n---\nafter a rule  \n\n",
        ("email",),
        {},
    ),
    (
        "---\ncaptions: {telegram: 'Caf\u00e9 \U0001f305'}\n---\n"
        "Sunset \U0001f305 \u00fcber alles\n",
        "Sunset \U0001f305 \u00fcber alles\n",
        None,
        {"telegram": "Caf\u00e9 \U0001f305"},
    ),
]


@pytest.mark.parametrize(
    ("text", "body", "platforms", "captions"),
    PARSE_CASES,
    ids=[
        "no-front-matter",
        "empty-file",
        "no-trailing-newline",
        "platforms-flow-list",
        "platforms-block-list",
        "captions-map",
        "platforms-and-captions",
        "crlf-line-endings",
        "empty-front-matter",
        "comment-only-front-matter",
        "closing-fence-at-end-of-file",
        "closing-fence-then-nothing",
        "fence-not-on-line-1-is-body",
        "blank-line-before-fence-is-body",
        "indented-fence-is-body",
        "four-dashes-are-not-a-fence",
        "body-kept-exactly-with-later-rule",
        "unicode-body-and-caption",
    ],
)
def test_parse_caption_splits_body_and_overrides(
    text: str, body: str, platforms: tuple[str, ...] | None, captions: dict[str, str]
) -> None:
    """A caption file splits into its exact body text and the overrides its front matter sets."""
    caption = parse_caption(text)

    assert caption.body == body
    assert caption.overrides.platforms == platforms
    assert caption.overrides.captions == captions


def test_caption_without_front_matter_has_default_overrides() -> None:
    """A plain caption gets the same overrides as an empty front matter block: none."""
    assert parse_caption("Plain.\n") == Caption(body="Plain.\n", overrides=Overrides())


# (caption file text, the exact error message)
ERROR_CASES: list[tuple[str, str]] = [
    (
        "---\nplatforms: [email]\nBody\n",
        "front matter starts with '---' on line 1 but is never closed",
    ),
    ("---\n", "front matter starts with '---' on line 1 but is never closed"),
    ("---", "front matter starts with '---' on line 1 but is never closed"),
    ("---\n- telegram\n- email\n---\nBody\n", "front matter must be a mapping of keys to values"),
    ("---\njust some words\n---\nBody\n", "front matter must be a mapping of keys to values"),
    ("---\ncolour: red\n---\nBody\n", "front matter: colour: unknown key (a typo?)"),
    (
        "---\ncolour: red\nsize: 2\n---\n",
        "front matter: colour: unknown key (a typo?); size: unknown key (a typo?)",
    ),
    (
        "---\nplatforms: 5\n---\n",
        "front matter: platforms: expected something else: Input should be a valid tuple",
    ),
    (
        "---\nplatforms: [email, 3]\n---\n",
        "front matter: platforms.1: expected something else: Input should be a valid string",
    ),
    (
        "---\ncaptions: [telegram]\n---\n",
        "front matter: captions: expected something else: Input should be a valid dictionary",
    ),
    (
        "---\nplatforms: []\n---\nNowhere\n",
        "front matter: platforms: expected something else: Tuple should have at least 1 item "
        "after validation, not 0",
    ),
    (
        "---\ncaptions: {telegram: 5}\n---\n",
        "front matter: captions.telegram: expected something else: Input should be a valid string",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"),
    ERROR_CASES,
    ids=[
        "unclosed-fence",
        "only-an-opening-fence",
        "only-an-opening-fence-no-newline",
        "list-not-mapping",
        "scalar-not-mapping",
        "unknown-key",
        "two-unknown-keys",
        "platforms-not-a-list",
        "platform-name-not-a-string",
        "captions-not-a-map",
        "platforms-empty-list",
        "caption-not-a-string",
    ],
)
def test_parse_caption_rejects_bad_front_matter(text: str, message: str) -> None:
    """Front matter that is unclosed, not a mapping or has bad keys raises a precise error."""
    with pytest.raises(FrontMatterError, match=f"^{re.escape(message)}$"):
        parse_caption(text)


def test_parse_caption_rejects_invalid_yaml() -> None:
    """Front matter that is not YAML raises an error saying so and what the parser expected."""
    with pytest.raises(FrontMatterError) as caught:
        parse_caption("---\nplatforms: [email\n---\nBody\n")

    assert str(caught.value).startswith("front matter is not valid YAML: ")
    assert "expected ',' or ']'" in str(caught.value)


# --- reading the caption file ---------------------------------------------------------------


def test_read_caption_text_reads_utf8(tmp_path: Path) -> None:
    """A UTF-8 caption file is returned as its exact text."""
    path = tmp_path / "sunset.txt"
    path.write_bytes("Caf\u00e9 \U0001f305\nline two\n".encode())

    assert read_caption_text(path) == "Caf\u00e9 \U0001f305\nline two\n"


def test_read_caption_text_drops_the_byte_order_mark(tmp_path: Path) -> None:
    """A UTF-8 BOM at the start of the file is not part of the caption."""
    path = tmp_path / "sunset.txt"
    path.write_bytes(b"\xef\xbb\xbfHello")

    assert read_caption_text(path) == "Hello"


def test_front_matter_after_a_byte_order_mark_is_recognised(tmp_path: Path) -> None:
    """A caption saved with a BOM still has its front matter read, not left in the body."""
    path = tmp_path / "sunset.txt"
    path.write_bytes(b"\xef\xbb\xbf---\r\nplatforms: [email]\r\n---\r\nBody\r\n")

    caption = parse_caption(read_caption_text(path))

    assert caption == Caption(body="Body\r\n", overrides=Overrides(platforms=("email",)))


def test_read_caption_text_keeps_crlf_line_endings(tmp_path: Path) -> None:
    """Line endings are not translated: the caption is the file's text as written."""
    path = tmp_path / "sunset.txt"
    path.write_bytes(b"one\r\ntwo\r\n")

    assert read_caption_text(path) == "one\r\ntwo\r\n"


def test_read_caption_text_rejects_latin1_naming_the_file(tmp_path: Path) -> None:
    """A Latin-1 caption is rejected with the file's name and the offending byte."""
    path = tmp_path / "caf\u00e9 au lait.txt"
    path.write_bytes("Caf\u00e9".encode("latin-1"))

    with pytest.raises(PostRejectedError) as caught:
        read_caption_text(path)

    assert str(caught.value) == (
        "caf\u00e9 au lait.txt: the caption is not UTF-8 text (byte 3 is invalid); save it as UTF-8"
    )


def test_read_caption_text_allows_an_empty_caption(tmp_path: Path) -> None:
    """An empty caption file is a valid, empty caption."""
    path = tmp_path / "sunset.txt"
    path.write_bytes(b"")

    assert read_caption_text(path) == ""


def test_read_caption_text_allows_a_caption_that_is_only_a_bom(tmp_path: Path) -> None:
    """A caption file holding only a BOM is an empty caption."""
    path = tmp_path / "sunset.txt"
    path.write_bytes(b"\xef\xbb\xbf")

    assert read_caption_text(path) == ""


# --- alt text and content warnings ----------------------------------------------------------

# (front matter lines, alt as parsed, content_warning as parsed, spoiler_text as parsed)
MEDIA_CASES: list[tuple[str, tuple[str, ...] | str | None, str | None, str | None]] = [
    ("", None, None, None),
    ("alt: A red sunset", "A red sunset", None, None),
    (
        "alt:\n  - A red sunset\n  - The lake at night",
        ("A red sunset", "The lake at night"),
        None,
        None,
    ),
    ("alt:\n  -\n  - Only the second", ("", "Only the second"), None, None),
    ("alt: []", (), None, None),
    ("content_warning: nudity", None, "nudity", None),
    ("content_warning: graphic-media", None, "graphic-media", None),
    ("content_warning: none", None, "none", None),
    ("content_warning: porn\nspoiler_text: Beach, nude", None, "porn", "Beach, nude"),
    ("spoiler_text: Nude", None, None, "Nude"),
]


@pytest.mark.parametrize(
    ("lines", "alt", "warning", "spoiler"),
    MEDIA_CASES,
    ids=[
        "nothing",
        "alt-one-string",
        "alt-a-list",
        "alt-an-empty-item",
        "alt-empty-list",
        "warning",
        "warning-with-a-dash",
        "warning-none",
        "warning-and-spoiler",
        "spoiler-alone-for-the-default",
    ],
)
def test_parse_caption_reads_alt_text_and_content_warning(
    lines: str, alt: object, warning: str | None, spoiler: str | None
) -> None:
    """alt, content_warning and spoiler_text are read as written (an empty alt item is "")."""
    overrides = parse_caption(f"---\n{lines}\n---\nBody\n").overrides
    assert (overrides.alt, overrides.content_warning, overrides.spoiler_text) == (
        alt,
        warning,
        spoiler,
    )


MEDIA_ERROR_CASES: list[tuple[str, str]] = [
    (
        "content_warning: nudiity",
        "front matter: content_warning: 'nudiity' is not a content warning; "
        "choose one of none, nudity, sexual, porn, graphic-media",
    ),
    (
        "content_warning: true",
        "front matter: content_warning: True is not a content warning; "
        "choose one of none, nudity, sexual, porn, graphic-media",
    ),
    (
        "content_warning: none\nspoiler_text: Nude",
        "front matter: spoiler_text is given with content_warning: none; "
        "choose a content warning or remove spoiler_text",
    ),
    (
        "alt: 5",
        "front matter: alt: expected a list of texts, one per image in order, "
        "or one text for a one-image post",
    ),
    (
        "alt: [one, 2]",
        "front matter: alt: expected a list of texts, one per image in order, "
        "or one text for a one-image post",
    ),
    (
        "spoiler_text: [a, b]",
        "front matter: spoiler_text: expected something else: Input should be a valid string",
    ),
]


@pytest.mark.parametrize(
    ("lines", "message"),
    MEDIA_ERROR_CASES,
    ids=[
        "warning-typo",
        "warning-not-text",
        "spoiler-with-none",
        "alt-a-number",
        "alt-item-a-number",
        "spoiler-a-list",
    ],
)
def test_parse_caption_rejects_bad_alt_text_and_content_warning(lines: str, message: str) -> None:
    """A typo in the warning lists the choices; alt and spoiler_text of the wrong shape say so."""
    with pytest.raises(FrontMatterError, match=f"^{re.escape(message)}$"):
        parse_caption(f"---\n{lines}\n---\nBody\n")


# (front matter lines, the config's default, the warning in force)
WARNING_CASES: list[tuple[str, ContentWarningChoice, ContentWarning | None]] = [
    ("", "none", None),
    ("", "nudity", ContentWarning("nudity")),
    ("content_warning: sexual", "none", ContentWarning("sexual")),
    ("content_warning: sexual", "nudity", ContentWarning("sexual")),
    ("content_warning: none", "porn", None),
    ("spoiler_text: Beach", "nudity", ContentWarning("nudity", "Beach")),
    ("content_warning: porn\nspoiler_text: Nude", "none", ContentWarning("porn", "Nude")),
]


@pytest.mark.parametrize(
    ("lines", "default", "in_force"),
    WARNING_CASES,
    ids=[
        "none-by-default",
        "the-default",
        "its-own",
        "its-own-over-the-default",
        "none-over-the-default",
        "spoiler-for-the-default",
        "spoiler-for-its-own",
    ],
)
def test_the_warning_in_force_is_the_posts_own_else_the_default(
    lines: str, default: ContentWarningChoice, in_force: ContentWarning | None
) -> None:
    """The front matter's content_warning wins, `none` included; else the config's default."""
    overrides = parse_caption(f"---\n{lines}\n---\nBody\n").overrides
    assert overrides.warning_in_force(default) == in_force


def test_spoiler_text_without_any_warning_in_force_is_an_error() -> None:
    """spoiler_text alone, with the default none, says how to give it a warning."""
    overrides = parse_caption("---\nspoiler_text: Beach\n---\nBody\n").overrides
    with pytest.raises(FrontMatterError) as caught:
        overrides.warning_in_force("none")
    assert str(caught.value) == (
        "spoiler_text needs a content warning and none is in force (the config's "
        "default_content_warning is none); add content_warning: "
        "nudity | sexual | porn | graphic-media"
    )


@pytest.mark.parametrize(
    ("lines", "images", "texts"),
    [
        ("", 3, ()),
        ("alt: Lake", 1, ("Lake",)),
        ("alt: [Lake, Night]", 2, ("Lake", "Night")),
        ("alt: [Lake]", 3, ("Lake",)),
    ],
    ids=["none", "one-string", "one-per-image", "fewer-than-images"],
)
def test_alt_texts_for_the_post(lines: str, images: int, texts: tuple[str, ...]) -> None:
    """Fewer alt texts than images is fine (the rest have none)."""
    overrides = parse_caption(f"---\n{lines}\n---\n").overrides
    assert overrides.alt_texts(images) == texts


@pytest.mark.parametrize(
    ("lines", "images", "message"),
    [
        (
            "alt: [a, b, c]",
            2,
            "alt has 3 texts but the post has 2 images; give one text per image, in order",
        ),
        (
            "alt: [a, b]",
            1,
            "alt has 2 texts but the post has 1 image; give one text per image, in order",
        ),
        (
            "alt: One for all",
            3,
            "alt is one text but the post has 3 images; give a list, one text per image in order",
        ),
    ],
    ids=["more-than-images", "more-than-one-image", "one-string-for-an-album"],
)
def test_alt_texts_that_do_not_fit_the_images_are_an_error(
    lines: str, images: int, message: str
) -> None:
    """More alt texts than images, or one string for several images, says what to write."""
    overrides = parse_caption(f"---\n{lines}\n---\n").overrides
    with pytest.raises(FrontMatterError, match=f"^{re.escape(message)}$"):
        overrides.alt_texts(images)
