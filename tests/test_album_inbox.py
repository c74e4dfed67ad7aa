"""Albums in the inbox: which numbered images pair into one post, in what order, and when
it is complete (a late or missing image, a temporary file of one)."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from daemon.inbox import Inbox, album_member
from tests.conftest import make_image
from tests.helpers import scan_inbox


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def _drop(inbox: Path, names: list[str]) -> None:
    for name in names:
        if name.endswith(".txt"):
            (inbox / name).write_text(f"caption {name}", encoding="utf-8")
        elif name.lower().endswith((".jpg", ".jpeg", ".png", ".webp")):
            image_format = {"png": "PNG", "webp": "WEBP"}.get(name.rpartition(".")[2].lower())
            make_image(inbox / name, image_format=image_format or "JPEG")
        else:
            (inbox / name).write_bytes(b"not decoded")


@dataclass(frozen=True)
class Pairing:
    """What one stem of the inbox should be: its images in order, complete or not, the problem."""

    images: list[str]
    complete: bool = True
    problem: list[str] | None = None  # words the problem must hold; None: no problem


PAIRING_CASES: list[tuple[str, list[str], dict[str, Pairing]]] = [
    (
        "album",
        ["walk.1.jpg", "walk.2.jpg", "walk.txt"],
        {"walk": Pairing(["walk.1.jpg", "walk.2.jpg"])},
    ),
    (
        "numeric-order",
        [f"walk.{n}.jpg" for n in (10, 2, 1, 3, 4, 5, 6, 7, 8, 9)] + ["walk.txt"],
        {"walk": Pairing([f"walk.{n}.jpg" for n in range(1, 11)])},
    ),
    (
        "mixed-formats-and-case",
        ["walk.1.JPG", "walk.2.png", "walk.3.WebP", "walk.4.jpeg", "walk.txt"],
        {"walk": Pairing(["walk.1.JPG", "walk.2.png", "walk.3.WebP", "walk.4.jpeg"])},
    ),
    ("one-image", ["walk.jpg", "walk.txt"], {"walk": Pairing(["walk.jpg"])}),
    ("album-of-one", ["walk.1.jpg", "walk.txt"], {"walk": Pairing(["walk.1.jpg"])}),
    ("own-caption", ["v1.2.jpg", "v1.2.txt"], {"v1.2": Pairing(["v1.2.jpg"])}),
    (
        "own-caption-beside-an-album",
        ["v1.1.jpg", "v1.2.jpg", "v1.2.txt", "v1.txt"],
        {"v1": Pairing(["v1.1.jpg"]), "v1.2": Pairing(["v1.2.jpg"])},
    ),
    ("leading-zeros", ["w.01.jpg", "w.02.jpg", "w.txt"], {"w": Pairing(["w.01.jpg", "w.02.jpg"])}),
    (
        "date-stem-with-its-own-caption",
        ["2024.06.01.jpg", "2024.06.01.txt"],
        {"2024.06.01": Pairing(["2024.06.01.jpg"])},
    ),
    (
        "mixture",
        ["walk.jpg", "walk.1.jpg", "walk.txt"],
        {
            "walk": Pairing(
                ["walk.1.jpg"],
                problem=["ambiguous post 'walk'", "walk.jpg", "walk.1.jpg", "walk.1.txt"],
            )
        },
    ),
    (
        "same-number-twice",
        ["walk.1.jpg", "walk.1.png", "walk.2.jpg", "walk.txt"],
        {
            "walk": Pairing(
                ["walk.1.jpg", "walk.1.png", "walk.2.jpg"],
                problem=["ambiguous album 'walk'", "walk.1.jpg, walk.1.png are all image 1"],
            )
        },
    ),
    (
        "same-number-by-leading-zero",
        ["walk.01.jpg", "walk.1.jpg", "walk.txt"],
        {
            "walk": Pairing(
                ["walk.01.jpg", "walk.1.jpg"], problem=["walk.01.jpg, walk.1.jpg are all image 1"]
            )
        },
    ),
    (
        "numbered-zero",
        ["walk.0.jpg", "walk.1.jpg", "walk.txt"],
        {"walk": Pairing(["walk.0.jpg", "walk.1.jpg"], problem=["walk.0.jpg is numbered 0"])},
    ),
    (
        "gap-waits",
        ["walk.1.jpg", "walk.3.jpg", "walk.txt"],
        {"walk": Pairing(["walk.1.jpg", "walk.3.jpg"], complete=False)},
    ),
    (
        "gap-with-a-mixture-is-refused-at-once",
        ["walk.jpg", "walk.1.jpg", "walk.3.jpg", "walk.txt"],
        {"walk": Pairing(["walk.1.jpg", "walk.3.jpg"], problem=["walk.jpg"])},
    ),
    (
        "no-caption-yet",
        ["walk.1.jpg", "walk.2.jpg"],
        {"walk": Pairing(["walk.1.jpg", "walk.2.jpg"], complete=False)},
    ),
    (
        "unsupported-member",
        ["walk.1.jpg", "walk.2.heic", "walk.txt"],
        {
            "walk": Pairing(
                ["walk.1.jpg", "walk.2.heic"], problem=["walk.2.heic: dropcast publishes JPEG"]
            )
        },
    ),
]


@pytest.mark.parametrize(
    ("names", "expected"), [case[1:] for case in PAIRING_CASES], ids=[c[0] for c in PAIRING_CASES]
)
def test_pairing(inbox: Path, names: list[str], expected: dict[str, Pairing]) -> None:
    """Each stem of the inbox pairs as the album rules say: its images, in order, and why not."""
    _drop(inbox, names)
    candidates = scan_inbox(inbox).candidates
    assert sorted(candidates) == sorted(expected)
    for stem, pairing in expected.items():
        candidate = candidates[stem]
        assert [file.path.name for file in candidate.post_images] == pairing.images
        problem = candidate.problem()
        if pairing.problem is None:
            assert problem is None
            assert candidate.is_complete is pairing.complete
        else:
            assert problem is not None
            assert candidate.is_complete  # refused at once, gap or not
            assert [words for words in pairing.problem if words not in problem] == []


@pytest.mark.parametrize(
    ("stem", "member"),
    [("walk.2", ("walk", 2)), ("a.b.10", ("a.b", 10)), ("walk", None), ("walk.2a", None)],
)
def test_album_member(stem: str, member: tuple[str, int] | None) -> None:
    """A stem ending in `.<digits>` names an image of the album before the dot."""
    assert album_member(stem) == member


def test_a_caption_of_its_own_takes_a_numbered_image_out_of_the_album(inbox: Path) -> None:
    """walk.2.txt arriving makes walk.2.jpg a post of its own; the album keeps the rest."""
    _drop(inbox, ["walk.1.jpg", "walk.2.jpg", "walk.3.jpg", "walk.txt"])
    assert len(scan_inbox(inbox).candidates["walk"].post_images) == 3
    _drop(inbox, ["walk.2.txt"])
    scan = scan_inbox(inbox)
    assert [f.path.name for f in scan.candidates["walk"].post_images] == [
        "walk.1.jpg",
        "walk.3.jpg",
    ]
    assert [f.path.name for f in scan.candidates["walk.2"].files] == ["walk.2.jpg", "walk.2.txt"]


def test_events_keep_the_album_current(inbox: Path) -> None:
    """An image added and one removed by events (no full listing) change the album at once:
    walk.1 and walk.3 (a gap) become walk.1 and walk.2."""
    _drop(inbox, ["walk.1.jpg", "walk.3.jpg", "walk.txt"])
    box = Inbox(inbox, settle_seconds=2.0)
    box.due(0.0)
    assert box.due(10.0, changed=[])[0] == []
    _drop(inbox, ["walk.2.jpg"])
    (inbox / "walk.3.jpg").unlink()
    box.due(11.0, changed=[inbox / "walk.2.jpg", inbox / "walk.3.jpg"])
    due, _ = box.due(20.0, changed=[])
    assert [[f.path.name for f in c.post_images] for c in due] == [["walk.1.jpg", "walk.2.jpg"]]


def test_the_album_is_due_when_its_last_image_has_settled(inbox: Path) -> None:
    """An image that changes late delays the whole album until it too has been still."""
    _drop(inbox, ["walk.1.jpg", "walk.2.jpg", "walk.txt"])
    box = Inbox(inbox, settle_seconds=2.0)
    assert box.due(0.0)[0] == []
    (inbox / "walk.2.jpg").write_bytes((inbox / "walk.2.jpg").read_bytes() + b"more")
    assert box.due(1.5, changed=[inbox / "walk.2.jpg"])[0] == []
    assert box.due(2.5, changed=[])[0] == []  # the others are still; walk.2 is not yet
    due, _ = box.due(3.5, changed=[])
    assert [c.stem for c in due] == ["walk"]


def test_a_temporary_of_a_numbered_image_delays_the_album(inbox: Path) -> None:
    """walk.3.jpg.part (a copy under way) holds back walk.1, walk.2 and walk.txt, however
    long they have been still; its rename into walk.3.jpg makes the album of three due."""
    _drop(inbox, ["walk.1.jpg", "walk.2.jpg", "walk.txt"])
    (inbox / "walk.3.jpg.part").write_bytes(b"half")
    box = Inbox(inbox, settle_seconds=2.0)
    assert box.due(0.0)[0] == []
    assert box.due(100.0)[0] == []
    (inbox / "walk.3.jpg.part").unlink()
    make_image(inbox / "walk.3.jpg")
    changed = [inbox / "walk.3.jpg.part", inbox / "walk.3.jpg"]
    due, _ = box.due(100.1, changed=changed, renamed_in=[inbox / "walk.3.jpg"])
    assert [len(c.post_images) for c in due] == [3]


@pytest.mark.parametrize("temporary", [".walk.3.jpg.Xy12Ab", ".syncthing.walk.3.jpg.tmp"])
def test_hidden_temporaries_of_a_numbered_image_delay_the_album(
    inbox: Path, temporary: str
) -> None:
    """rsync's and syncthing's hidden temporaries count as an image being copied in."""
    _drop(inbox, ["walk.1.jpg", "walk.txt"])
    (inbox / temporary).write_bytes(b"half")
    scan = scan_inbox(inbox)
    assert scan.being_written(scan.candidates["walk"])


def test_a_temporary_of_another_stem_delays_nothing(inbox: Path) -> None:
    """walkway.1.jpg.part and walk.jpg.part.txt are none of the album walk's."""
    _drop(inbox, ["walk.1.jpg", "walk.txt"])
    (inbox / "walkway.1.jpg.part").write_bytes(b"half")
    scan = scan_inbox(inbox)
    assert not scan.being_written(scan.candidates["walk"])


def test_an_album_held_by_an_abandoned_temporary_is_warned_about_once(inbox: Path) -> None:
    """walk.3.jpg.crdownload left by a cancelled download holds the complete album walk back:
    after the orphan bound one warning names it and says what to do; the album waits."""
    _drop(inbox, ["walk.1.jpg", "walk.2.jpg", "walk.txt"])
    (inbox / "walk.3.jpg.crdownload").write_bytes(b"half")
    box = Inbox(inbox, settle_seconds=2.0)
    with capture_logs() as logs:
        assert box.due(0.0) == ([], 60.0)
        assert box.due(60.0)[0] == []
        box.due(120.0)
    (warning,) = [e for e in logs if e["event"] == "inbox.waiting_for_temporary"]
    assert (warning["file"], warning["temporaries"]) == ("walk.txt", ["walk.3.jpg.crdownload"])
    assert "delete it if that copy or download was abandoned" in warning["reason"]


def _orphans(logs: list[MutableMapping[str, Any]]) -> list[tuple[str, str]]:
    return [(e["file"], e["waits_for"]) for e in logs if e["event"] == "inbox.orphan"]


def test_an_album_with_a_gap_waits_with_one_warning_naming_the_missing_image(
    inbox: Path,
) -> None:
    """walk.1 and walk.3: not published; after the orphan bound one warning, on the caption,
    names walk.2; when walk.2 comes the album of three is due."""
    _drop(inbox, ["walk.1.jpg", "walk.3.jpg", "walk.txt"])
    box = Inbox(inbox, settle_seconds=2.0)
    with capture_logs() as logs:
        assert box.due(0.0) == ([], 60.0)
        assert box.due(60.0)[0] == []
        box.due(120.0)
    assert _orphans(logs) == [
        (
            "walk.txt",
            "the album's image walk.2.jpg (or .jpeg, .png, .webp): "
            "an album's images are numbered 1, 2, 3, … without a gap",
        )
    ]
    _drop(inbox, ["walk.2.jpg"])
    box.due(121.0, changed=[inbox / "walk.2.jpg"])
    due, _ = box.due(124.0, changed=[])
    assert [[f.path.name for f in c.post_images] for c in due] == [
        ["walk.1.jpg", "walk.2.jpg", "walk.3.jpg"]
    ]


def test_an_album_image_alone_names_both_captions_it_could_have(inbox: Path) -> None:
    """walk.1.jpg without a caption waits for walk.txt (the album's) or walk.1.txt (its own)."""
    _drop(inbox, ["walk.1.jpg"])
    box = Inbox(inbox, settle_seconds=2.0)
    with capture_logs() as logs:
        box.due(0.0)
        box.due(60.0)
    assert _orphans(logs) == [
        ("walk.1.jpg", "its album's caption walk.txt, or walk.1.txt for this image alone")
    ]


def test_a_directory_named_as_an_album_image_refuses_the_album(inbox: Path) -> None:
    """A folder walk.2.jpg takes the album's place 2 but is no image: the album is refused
    naming it (the folder itself is never opened or moved)."""
    _drop(inbox, ["walk.1.jpg", "walk.3.jpg", "walk.txt"])
    (inbox / "walk.2.jpg").mkdir()
    candidate = scan_inbox(inbox).candidates["walk"]
    assert [f.path.name for f in candidate.files] == ["walk.1.jpg", "walk.3.jpg", "walk.txt"]
    assert candidate.problem() == (
        "walk.2.jpg is a directory, not a file; dropcast never opens it and left it in the inbox"
    )
