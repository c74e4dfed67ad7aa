"""Mastodon's caption rules, the shared splitter under them, and the `platforms.mastodon` section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from daemon.config import ConfigError, load_config
from daemon.publishers.mastodon import MastodonSettings
from daemon.publishers.mastodon.instance import Limits, read_limits
from daemon.publishers.mastodon.text import CaptionSplitError, split_caption, status_length
from daemon.registry import Registry
from daemon.text_split import grapheme_count, split_text
from tests.conftest import write_config

FAMILY = "👨‍👩‍👧‍👦"  # one grapheme of seven code points


class TestSplitText:
    def test_a_text_that_fits_is_one_piece_stripped(self) -> None:
        """Nothing to split: the text itself, without blank ends."""
        assert split_text("  hello there \n", 50) == ["hello there"]

    def test_an_empty_text_has_no_pieces(self) -> None:
        """An empty or all-whitespace caption makes no status."""
        assert split_text(" \n\n ", 10) == []

    @pytest.mark.parametrize(
        ("text", "limit", "expected"),
        [
            (
                "One two three four five.\n\nSix seven eight. Nine ten.",
                40,
                ["One two three four five.", "Six seven eight. Nine ten."],
            ),
            (
                "One two three four. Five six seven eight nine ten.",
                30,
                ["One two three four.", "Five six seven eight nine ten."],
            ),
            ("alpha beta gamma delta", 12, ["alpha beta", "gamma delta"]),
        ],
        ids=["paragraph", "sentence", "word"],
    )
    def test_pieces_end_at_the_best_boundary(
        self, text: str, limit: int, expected: list[str]
    ) -> None:
        """A paragraph before a sentence before a word."""
        assert split_text(text, limit) == expected

    def test_a_paragraph_break_too_early_gives_way_to_a_later_sentence(self) -> None:
        """A blank line three words in would make a tiny post: a later sentence end wins."""
        text = "Hi.\n\nThis is a longer sentence here. And another one follows it."
        assert split_text(text, 40)[0] == "Hi.\n\nThis is a longer sentence here."

    def test_graphemes_are_never_cut(self) -> None:
        """A family emoji (seven code points) stays whole even with no space to cut at."""
        pieces = split_text(FAMILY * 7, 3)
        assert pieces == [FAMILY * 3, FAMILY * 3, FAMILY]
        assert all(grapheme_count(piece) <= 3 for piece in pieces)

    def test_a_span_kept_whole_is_never_cut(self) -> None:
        """A link longer than the window goes whole into a piece of its own."""
        text = "see https://example.com/abcdefghij end"
        start = text.index("https")
        pieces = split_text(text, 12, keep_whole=[(start, start + 30)])
        assert "https://example.com/abcdefghij" in pieces

    def test_nothing_is_lost_but_the_spaces_at_the_cuts(self) -> None:
        """Joined again, the pieces are the text."""
        text = " ".join(f"word{i}" for i in range(300))
        pieces = split_text(text, 37)
        assert " ".join(pieces) == text
        assert all(len(piece) <= 37 for piece in pieces)


class TestMastodonCount:
    def test_a_link_counts_as_characters_reserved_per_url(self) -> None:
        """However long, a link is 23 characters (the server's number)."""
        limits = Limits(characters_reserved_per_url=23)
        assert status_length("go https://example.com/" + "x" * 100, limits) == 3 + 23

    def test_a_remote_mention_counts_as_its_name(self) -> None:
        """@name@server is counted as @name."""
        assert status_length("hi @alice@social.example.org", Limits()) == len("hi @alice")

    def test_emoji_count_as_one_character(self) -> None:
        """Graphemes, not code points."""
        assert status_length(FAMILY + "🇫🇷", Limits()) == 2

    def test_the_content_warning_takes_its_share_of_each_status(self) -> None:
        """Each status holds max_characters with its spoiler text included."""
        limits = Limits(max_characters=50)
        pieces = split_caption("word " * 40, limits, spoiler_text="nudity")
        assert all(status_length(piece, limits) + 6 <= 50 for piece in pieces)

    def test_a_warning_that_fills_the_status_is_an_error(self) -> None:
        """No room for any caption: said, not looped on."""
        with pytest.raises(CaptionSplitError, match="content warning"):
            split_caption("text", Limits(max_characters=5), spoiler_text="nudity")

    def test_limits_missing_from_the_instance_keep_mastodons_defaults(self) -> None:
        """A server that states only some limits: the rest are Mastodon's own."""
        limits = read_limits({"configuration": {"statuses": {"max_characters": 5000}}})
        assert limits == Limits(max_characters=5000)


def load_mastodon(folder: Path, registry: Registry, **section: Any) -> MastodonSettings:
    values = {
        "enabled": True,
        "api_base_url": "https://social.example",
        "access_token": "tok-Secret-9931",
        **section,
    }
    config = load_config(write_config(folder, {"mastodon": values}), registry)
    settings = config.platforms["mastodon"]
    assert isinstance(settings, MastodonSettings)
    return settings


class TestSettings:
    def test_defaults(self, tmp_path: Path, registry: Registry) -> None:
        """Only the server and the token are needed."""
        settings = load_mastodon(tmp_path, registry)
        assert (settings.visibility, settings.language, settings.request_timeout) == (
            "public",
            None,
            30,
        )
        assert settings.max_retries == 3

    @pytest.mark.parametrize(
        ("section", "expected"),
        [
            ({"api_base_url": "social.example"}, "platforms.mastodon.api_base_url: expected"),
            ({"visibility": "followers"}, "platforms.mastodon.visibility: "),
            ({"language": "English"}, "platforms.mastodon.language: expected an ISO 639-1"),
            ({"access_token": "tok Secret-9931"}, "platforms.mastodon.access_token: not an"),
            ({"request_timeout": 0}, "platforms.mastodon.request_timeout: "),
            ({"server": "x"}, "platforms.mastodon.server: unknown key"),
        ],
    )
    def test_bad_settings_are_clear_config_errors(
        self, tmp_path: Path, registry: Registry, section: dict[str, Any], expected: str
    ) -> None:
        """Each mistake names its key and what was expected, and never the token."""
        with pytest.raises(ConfigError) as error:
            load_mastodon(tmp_path, registry, **section)
        assert expected in str(error.value)
        assert "Secret-9931" not in str(error.value)

    def test_a_missing_token_is_named(self, tmp_path: Path, registry: Registry) -> None:
        """No access_token: the key is named as required."""
        values = {"enabled": True, "api_base_url": "https://social.example"}
        with pytest.raises(ConfigError, match=r"platforms\.mastodon\.access_token: required"):
            load_config(write_config(tmp_path, {"mastodon": values}), registry)
