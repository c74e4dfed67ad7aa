"""File names as platforms take them (no control characters) and as file systems store them (bytes)."""

from __future__ import annotations

import pytest

from daemon.names import NAME_MAX, cut_to_bytes, sendable, utf8_length
from daemon.publishers.email.message import content_disposition

FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # one grapheme cluster of 7 code points, 25 bytes


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("line\nbreak.jpg", "line_break.jpg"),
        ("cr\rret.jpg", "cr_ret.jpg"),
        ("tab\there.jpg", "tab_here.jpg"),
        ("del\x7f\x85c1.jpg", "del__c1.jpg"),
        ("para\u2028graph.jpg", "para_graph.jpg"),
        ("Été au lac 🌅.jpg", "Été au lac 🌅.jpg"),
        (f"{FAMILY} é\u0301.jpg", f"{FAMILY} é\u0301.jpg"),
    ],
)
def test_a_sendable_name_has_no_control_character_and_keeps_the_rest(
    name: str, expected: str
) -> None:
    """Only what no header can carry is replaced: emoji joiners, accents and spaces stay."""
    assert sendable(name) == expected


def test_a_name_cut_to_bytes_keeps_whole_emoji() -> None:
    """A cut never ends inside a grapheme cluster, and never goes over the byte limit."""
    stem = FAMILY * 12  # 300 bytes
    for limit in range(25, 301, 7):
        cut = cut_to_bytes(stem, limit)
        assert utf8_length(cut) <= limit
        assert cut == FAMILY * (limit // 25)


def test_a_short_name_is_not_cut() -> None:
    """A name within the limit comes back as it is."""
    assert cut_to_bytes("sunset", NAME_MAX) == "sunset"


def test_a_name_that_is_one_long_cluster_is_cut_between_code_points() -> None:
    """A letter with a hundred combining marks still fits, cut where a code point ends."""
    stem = "e" + "\u0301" * 200
    cut = cut_to_bytes(stem, 100)
    assert utf8_length(cut) <= 100
    assert stem.startswith(cut)
    assert cut


@pytest.mark.parametrize("name", ["a\r\nb.jpg", "line\nbreak.jpg", "x\x00y\x1b.png"])
def test_an_email_attachment_name_carries_no_control_character(name: str) -> None:
    """A CR or LF in the file name never reaches the header as a line break or an escape."""
    value = content_disposition("attachment", name)
    assert "\r" not in value
    assert all(line.startswith(" ") for line in value.split("\n")[1:])  # only our own folds
    assert not any(char < " " and char != "\n" for char in value)
    assert "_" in value
