"""Caption files: the optional YAML front matter (`parse_caption`) and reading them as text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from daemon.frontmatter import Caption, FrontMatterError, Overrides, parse_caption
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
