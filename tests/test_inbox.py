"""The inbox: ignore rules, name splitting, pairing, settling, and the watcher's event rules."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs
from watchfiles import Change

from daemon.inbox import Inbox, InboxFile, SettleTracker, is_ignored, split_name
from daemon.registry import Registry
from daemon.watcher import InboxFilter, renamed_in
from tests.conftest import (
    TEST_PACKAGES,
    inbox_files,
    make_image,
    running_daemon,
    wait_for,
    write_config,
    write_post,
)
from tests.fakes.publishers import RECEIVED
from tests.helpers import scan_inbox

# --- is_ignored ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.jpg",
        ".hidden.txt",
        "photo.jpg.part",
        "photo.JPG.PART",
        "photo.tmp",
        "photo.jpg.crdownload",
        "~$x.txt",
        "x~",
        "photo.jpg~",
        ".DS_Store",
        "Thumbs.db",
        "thumbs.db",
        "@eaDir",
        ".syncthing.x.tmp",
        ".syncthing.photo.jpg.tmp",
        ".stfolder",
    ],
)
def test_is_ignored_for_hidden_temporary_and_sync_files(name: str) -> None:
    """Hidden, temporary and sync-tool file names are never read."""
    assert is_ignored(name)


@pytest.mark.parametrize(
    "name",
    [
        "sunset.jpg",
        "sunset.txt",
        "IMG_0001.JPG",
        "my photo.jpeg",
        "  spaced  out .png",
        "café crème.webp",
        "Ünïcödé.txt",
        "beach 🌅.jpg",
        "🌅.txt",
        "a.b.c.jpg",
        "part.jpg",
        "tmp.txt",
        "x~y.jpg",
        "a$b.txt",
        "photo.parts",
    ],
)
def test_is_ignored_not_for_ordinary_names(name: str) -> None:
    """Ordinary names, including spaces, accents and emoji, are not ignored."""
    assert not is_ignored(name)


# --- split_name ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("A.JPG", ("A", ".jpg")),
        ("sunset.jpg", ("sunset", ".jpg")),
        ("My photo.Jpeg", ("My photo", ".jpeg")),
        ("a.b.c.PNG", ("a.b.c", ".png")),
        ("2024.06.01 beach.txt", ("2024.06.01 beach", ".txt")),
        ("archive.tar.gz", ("archive.tar", ".gz")),
        ("README", ("README", "")),
        (".hidden", (".hidden", "")),
        ("café 🌅.WEBP", ("café 🌅", ".webp")),
    ],
)
def test_split_name_gives_exact_stem_and_lower_case_suffix(
    name: str, expected: tuple[str, str]
) -> None:
    """A name splits at its last dot into the exact stem and the lower-cased suffix."""
    assert split_name(name) == expected


# --- scan_inbox ----------------------------------------------------------------------------


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def test_scan_pairs_image_and_caption_with_the_same_stem(inbox: Path) -> None:
    """An image and a caption with one stem form one candidate that is a pair."""
    write_post(inbox, "sunset")
    scan = scan_inbox(inbox)
    assert list(scan.candidates) == ["sunset"]
    candidate = scan.candidates["sunset"]
    assert candidate.is_pair
    assert [f.path for f in candidate.images] == [inbox / "sunset.jpg"]
    assert [f.path for f in candidate.captions] == [inbox / "sunset.txt"]
    assert candidate.problem() is None


def test_scan_pairs_upper_case_suffix_with_caption(inbox: Path) -> None:
    """`A.JPG` and `A.txt` are a pair: suffixes match case-insensitively."""
    make_image(inbox / "A.JPG")
    (inbox / "A.txt").write_text("caption", encoding="utf-8")
    candidate = scan_inbox(inbox).candidates["A"]
    assert candidate.is_pair
    assert candidate.images[0].path.name == "A.JPG"


def test_scan_matches_stems_exactly_not_by_case(inbox: Path) -> None:
    """`a.jpg` and `A.txt` are two lone files, not a pair: the stem is matched exactly."""
    make_image(inbox / "a.jpg")
    (inbox / "A.txt").write_text("caption", encoding="utf-8")
    scan = scan_inbox(inbox)
    assert set(scan.candidates) == {"a", "A"}
    assert not scan.candidates["a"].is_pair
    assert not scan.candidates["A"].is_pair


@pytest.mark.parametrize(
    "stem",
    ["my summer photo", "café crème", "Ünïcödé Straße", "beach 🌅", "🌅", "2024.06.01 beach"],
)
def test_scan_pairs_stems_with_spaces_accents_and_emoji(inbox: Path, stem: str) -> None:
    """Stems with spaces, accents, emoji and inner dots pair like any other."""
    write_post(inbox, stem)
    scan = scan_inbox(inbox)
    assert list(scan.candidates) == [stem]
    assert scan.candidates[stem].is_pair


def test_scan_lone_image_is_a_candidate_but_not_a_pair(inbox: Path) -> None:
    """An image without its caption is seen, but is not yet a post."""
    make_image(inbox / "alone.jpg")
    candidate = scan_inbox(inbox).candidates["alone"]
    assert not candidate.is_pair
    assert candidate.captions == ()


def test_scan_skips_sub_folders_and_their_contents(inbox: Path) -> None:
    """Sub-folders and the files inside them are not seen; one named like an image is seen
    as what it is, a directory, never as a file of a post."""
    (inbox / "album.jpg").mkdir()
    nested = inbox / "nested"
    nested.mkdir()
    write_post(nested, "deep")
    scan = scan_inbox(inbox)
    assert list(scan.candidates) == ["album"]
    album = scan.candidates["album"]
    assert (album.files, [f.kind for f in album.odd]) == ((), ["a directory"])
    assert not album.is_pair
    assert scan.unrecognised == []


def test_scan_skips_ignored_files(inbox: Path) -> None:
    """Temporary, hidden and sync-tool files are neither candidates nor unrecognised."""
    make_image(inbox / "photo.jpg.part")
    make_image(inbox / ".hidden.jpg")
    (inbox / ".hidden.txt").write_text("x", encoding="utf-8")
    (inbox / "~$photo.txt").write_text("x", encoding="utf-8")
    (inbox / ".DS_Store").write_bytes(b"\0")
    (inbox / "Thumbs.db").write_bytes(b"\0")
    scan = scan_inbox(inbox)
    assert scan.candidates == {}
    assert scan.unrecognised == []


def test_scan_lists_unrecognised_files(inbox: Path) -> None:
    """Files that are neither an image nor a caption are listed as unrecognised."""
    (inbox / "notes.pdf").write_bytes(b"%PDF")
    (inbox / "README").write_text("x", encoding="utf-8")
    write_post(inbox, "sunset")
    scan = scan_inbox(inbox)
    assert sorted(scan.unrecognised) == ["README", "notes.pdf"]
    assert list(scan.candidates) == ["sunset"]


@pytest.mark.parametrize("name", ["holiday.heic", "animation.gif", "scan.TIFF"])
def test_an_unsupported_picture_pairs_and_is_refused_with_a_reason(inbox: Path, name: str) -> None:
    """A HEIC, GIF or TIFF with a caption is a post dropcast refuses, saying which formats it takes."""
    (inbox / name).write_bytes(b"not decoded")
    stem = name.rpartition(".")[0]
    (inbox / f"{stem}.txt").write_text("caption", encoding="utf-8")
    candidate = scan_inbox(inbox).candidates[stem]
    assert candidate.is_pair
    assert (
        candidate.problem()
        == f"{name}: dropcast publishes JPEG, PNG and WebP; convert the picture to one of them"
    )


def test_a_placeholder_beside_its_download_is_being_written(inbox: Path) -> None:
    """A browser's empty `x.jpg` beside `x.jpg.part` is not complete, however long it waits."""
    (inbox / "x.jpg").write_bytes(b"")
    (inbox / "x.jpg.part").write_bytes(b"half")
    (inbox / "x.txt").write_text("caption", encoding="utf-8")
    scan = scan_inbox(inbox)
    assert scan.being_written(scan.candidates["x"])
    (inbox / "x.jpg.part").unlink()
    rescan = scan_inbox(inbox)
    assert not rescan.being_written(rescan.candidates["x"])


def test_scan_two_images_for_one_caption_is_a_problem_naming_both(inbox: Path) -> None:
    """`a.jpg` + `a.png` + `a.txt` is ambiguous, and the problem names both images."""
    make_image(inbox / "a.jpg")
    make_image(inbox / "a.png", image_format="PNG")
    (inbox / "a.txt").write_text("caption", encoding="utf-8")
    problem = scan_inbox(inbox).candidates["a"].problem()
    assert problem is not None
    assert "a.jpg" in problem
    assert "a.png" in problem


def test_scan_two_captions_for_one_image_is_a_problem(inbox: Path) -> None:
    """`a.jpg` + `a.txt` + `a.TXT` is ambiguous, and the problem names both captions."""
    make_image(inbox / "a.jpg")
    (inbox / "a.txt").write_text("one", encoding="utf-8")
    (inbox / "a.TXT").write_text("two", encoding="utf-8")
    problem = scan_inbox(inbox).candidates["a"].problem()
    assert problem is not None
    assert "a.txt" in problem
    assert "a.TXT" in problem


@pytest.fixture
def outside_image(tmp_path: Path) -> Path:
    """A real image outside the inbox, with a long path so its size differs from a link's."""
    folder = tmp_path / ("elsewhere-" + "x" * 40)
    folder.mkdir()
    return make_image(folder / "real.jpg", size=(400, 300))


def test_scan_reports_a_symlinked_image_as_a_problem(inbox: Path, outside_image: Path) -> None:
    """A symbolic link in the inbox is flagged, and the problem names the link."""
    (inbox / "linked.jpg").symlink_to(outside_image)
    (inbox / "linked.txt").write_text("caption", encoding="utf-8")
    candidate = scan_inbox(inbox).candidates["linked"]
    assert candidate.images[0].is_symlink
    problem = candidate.problem()
    assert problem is not None
    assert "linked.jpg" in problem
    assert "symbolic link" in problem


def test_scan_does_not_follow_a_symlink(inbox: Path, outside_image: Path) -> None:
    """A symbolic link is described by its own lstat, never by its target's."""
    link = inbox / "linked.jpg"
    link.symlink_to(outside_image)
    found = scan_inbox(inbox).candidates["linked"].images[0]
    assert found.size == os.lstat(link).st_size
    assert found.size != outside_image.stat().st_size
    assert found.mtime_ns == os.lstat(link).st_mtime_ns


def test_scan_reports_a_dangling_symlink(inbox: Path, tmp_path: Path) -> None:
    """A symbolic link to nothing is still seen, flagged as a link."""
    (inbox / "ghost.jpg").symlink_to(tmp_path / "does-not-exist.jpg")
    (inbox / "ghost.txt").write_text("caption", encoding="utf-8")
    candidate = scan_inbox(inbox).candidates["ghost"]
    assert candidate.images[0].is_symlink
    assert candidate.problem() is not None


def test_scan_reports_a_symlinked_caption(inbox: Path, tmp_path: Path) -> None:
    """A caption that is a symbolic link makes the post a problem too."""
    real = tmp_path / "real.txt"
    real.write_text("caption", encoding="utf-8")
    make_image(inbox / "post.jpg")
    (inbox / "post.txt").symlink_to(real)
    problem = scan_inbox(inbox).candidates["post"].problem()
    assert problem is not None
    assert "post.txt" in problem


def test_scan_sees_a_fifo_without_opening_it(inbox: Path) -> None:
    """A named pipe called like an image is seen as a FIFO and never opened (that would block)."""
    os.mkfifo(inbox / "pipe.jpg")
    scan = scan_inbox(inbox)
    pipe = scan.candidates["pipe"]
    assert (pipe.files, [f.kind for f in pipe.odd]) == ((), ["a FIFO (named pipe)"])
    assert scan.unrecognised == []


def _bind_socket(path: Path) -> None:
    """A Unix socket at `path`, bound by its short name (a socket's path has a length limit)."""
    here = Path.cwd()
    os.chdir(path.parent)
    try:
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(path.name)
    finally:
        os.chdir(here)


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda path: path.mkdir(), "a directory"),
        (os.mkfifo, "a FIFO (named pipe)"),
        (lambda path: _bind_socket(path), "a socket"),
    ],
    ids=["directory", "fifo", "socket"],
)
@pytest.mark.parametrize("odd_name", ["x.jpg", "x.txt"])
def test_a_post_with_something_other_than_a_file_is_refused_naming_it(
    inbox: Path, make: Any, kind: str, odd_name: str
) -> None:
    """A directory, FIFO or socket with an image or caption name pairs with its partner, and the
    post is refused saying what it is; only the partner, a real file, is a file of the post."""
    partner = "x.txt" if odd_name == "x.jpg" else "x.jpg"
    make(inbox / odd_name)
    make_image(inbox / partner) if partner == "x.jpg" else (inbox / partner).write_text("c")
    candidate = scan_inbox(inbox).candidates["x"]
    assert candidate.is_pair
    assert [f.path.name for f in candidate.files] == [partner]
    assert candidate.problem() == (
        f"{odd_name} is {kind}, not a file; dropcast never opens it and left it in the inbox"
    )


def test_two_entries_that_are_not_files_are_no_post(inbox: Path) -> None:
    """A directory x.jpg beside a FIFO x.txt: nothing to refuse or move, so no post at all."""
    (inbox / "x.jpg").mkdir()
    os.mkfifo(inbox / "x.txt")
    assert not scan_inbox(inbox).candidates["x"].is_pair


def test_scan_records_size_and_mtime(inbox: Path) -> None:
    """Each file is seen with its size and its mtime in nanoseconds."""
    image = write_post(inbox, "sunset")
    found = scan_inbox(inbox).candidates["sunset"].images[0]
    assert found.signature == (image.stat().st_size, image.stat().st_mtime_ns)
    assert not found.is_symlink


# --- SettleTracker -------------------------------------------------------------------------

SETTLE = 2.0


def _file(name: str = "a.jpg", size: int = 100, mtime_ns: int = 1_000) -> InboxFile:
    return InboxFile(Path("/inbox") / name, size, mtime_ns, is_symlink=False)


def _is_ready(tracker: SettleTracker, file: InboxFile, now: float) -> bool:
    return tracker.ready_at(file) <= now


def test_settle_not_ready_before_settle_seconds() -> None:
    """A file seen unchanged for less than settle_seconds is not complete."""
    tracker = SettleTracker(SETTLE)
    file = _file()
    tracker.observe([file], now=100.0)
    tracker.observe([file], now=101.9)
    assert not _is_ready(tracker, file, now=101.9)


def test_settle_ready_after_settle_seconds() -> None:
    """A file unchanged for settle_seconds is complete from first-seen + settle_seconds."""
    tracker = SettleTracker(SETTLE)
    file = _file()
    tracker.observe([file], now=100.0)
    tracker.observe([file], now=102.0)
    assert tracker.ready_at(file) == 102.0
    assert _is_ready(tracker, file, now=102.0)


def test_settle_unseen_file_is_never_ready() -> None:
    """A file the tracker has never observed has no finite ready time."""
    tracker = SettleTracker(SETTLE)
    assert tracker.ready_at(_file()) == float("inf")


@pytest.mark.parametrize(
    "changed",
    [_file(size=200), _file(mtime_ns=2_000)],
    ids=["size", "mtime"],
)
def test_settle_change_restarts_the_clock(changed: InboxFile) -> None:
    """A change in size or mtime restarts the settle clock from when it was seen."""
    tracker = SettleTracker(SETTLE)
    tracker.observe([_file()], now=100.0)
    tracker.observe([changed], now=101.5)
    assert tracker.ready_at(changed) == 103.5
    assert not _is_ready(tracker, changed, now=102.0)


def test_settle_stale_signature_is_not_ready() -> None:
    """Asking about a file whose signature differs from the one last observed gives never."""
    tracker = SettleTracker(SETTLE)
    tracker.observe([_file()], now=100.0)
    assert tracker.ready_at(_file(size=999)) == float("inf")


def test_settle_renamed_file_is_ready_at_once() -> None:
    """A file that arrived by rename is complete as soon as it is observed."""
    tracker = SettleTracker(SETTLE)
    file = _file()
    tracker.mark_renamed([file.path])
    tracker.observe([file], now=100.0)
    assert _is_ready(tracker, file, now=100.0)


def test_settle_renamed_file_that_changes_must_settle() -> None:
    """A change to a renamed file cancels its head start: it must settle like any other."""
    tracker = SettleTracker(SETTLE)
    file, changed = _file(), _file(size=200)
    tracker.mark_renamed([file.path])
    tracker.observe([file], now=100.0)
    tracker.observe([changed], now=101.0)
    assert not _is_ready(tracker, changed, now=101.0)
    assert tracker.ready_at(changed) == 103.0


def test_settle_rename_mark_does_not_spill_to_other_files() -> None:
    """Marking one file as renamed leaves its sibling to settle normally."""
    tracker = SettleTracker(SETTLE)
    image, caption = _file("a.jpg"), _file("a.txt")
    tracker.mark_renamed([image.path])
    tracker.observe([image, caption], now=100.0)
    assert _is_ready(tracker, image, now=100.0)
    assert not _is_ready(tracker, caption, now=100.0)


def test_settle_vanished_file_is_forgotten() -> None:
    """A file that vanishes and comes back starts settling afresh."""
    tracker = SettleTracker(SETTLE)
    file = _file()
    tracker.observe([file], now=100.0)
    tracker.observe([], now=101.0, gone=[file.path])
    assert tracker.ready_at(file) == float("inf")
    tracker.observe([file], now=110.0)
    assert tracker.ready_at(file) == 112.0


def test_settle_vanished_renamed_file_loses_its_mark() -> None:
    """A renamed file that vanishes and comes back (not by rename) must settle."""
    tracker = SettleTracker(SETTLE)
    file = _file()
    tracker.mark_renamed([file.path])
    tracker.observe([file], now=100.0)
    tracker.observe([], now=101.0, gone=[file.path])
    tracker.observe([file], now=102.0)
    assert not _is_ready(tracker, file, now=102.0)


def test_settle_rename_mark_for_a_file_not_present_is_dropped() -> None:
    """A rename mark for a file absent from the next scan does not wait for it to appear."""
    tracker = SettleTracker(SETTLE)
    file = _file()
    tracker.mark_renamed([file.path])
    tracker.observe([], now=100.0, gone=[file.path])
    tracker.observe([file], now=101.0)
    assert not _is_ready(tracker, file, now=101.0)


def test_settle_candidate_is_complete_when_its_last_file_is(inbox: Path) -> None:
    """A post is complete at the latest of its files' ready times."""
    write_post(inbox, "sunset")
    tracker = SettleTracker(SETTLE)
    candidate = scan_inbox(inbox).candidates["sunset"]
    image, caption = candidate.images[0], candidate.captions[0]
    tracker.observe([image], now=100.0)
    tracker.observe([image, caption], now=101.0)
    assert tracker.complete_at(candidate) == 103.0


# --- watcher.renamed_in --------------------------------------------------------------------

INBOX = Path("/srv/inbox")


def _at(name: str) -> str:
    return str(INBOX / name)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            [(Change.deleted, _at("x.jpg.part")), (Change.added, _at("x.jpg"))],
            {"x.jpg"},
            id="part-renamed",
        ),
        pytest.param(
            [(Change.added, _at("x.jpg")), (Change.deleted, _at("x.jpg.part"))],
            {"x.jpg"},
            id="part-renamed-any-order",
        ),
        pytest.param([(Change.added, _at("x.jpg"))], set(), id="plain-add"),
        pytest.param(
            [(Change.deleted, _at("other.jpg")), (Change.added, _at("x.jpg"))],
            set(),
            id="non-temporary-deleted",
        ),
        pytest.param(
            [(Change.deleted, _at("x.jpg")), (Change.added, _at("x.jpg"))],
            set(),
            id="same-name-deleted-and-added",
        ),
        pytest.param(
            [(Change.deleted, _at(".x.jpg.AbC123")), (Change.added, _at("x.jpg"))],
            {"x.jpg"},
            id="rsync",
        ),
        pytest.param(
            [(Change.deleted, _at("x.jpg.crdownload")), (Change.added, _at("x.jpg"))],
            {"x.jpg"},
            id="crdownload",
        ),
        pytest.param(
            [(Change.deleted, _at(".syncthing.x.jpg.tmp")), (Change.added, _at("x.jpg"))],
            {"x.jpg"},
            id="syncthing",
        ),
        pytest.param(
            [(Change.deleted, _at("beach 🌅.txt.part")), (Change.added, _at("beach 🌅.txt"))],
            {"beach 🌅.txt"},
            id="emoji-caption",
        ),
        pytest.param(
            [(Change.deleted, _at("x.jpg.part")), (Change.modified, _at("x.jpg"))],
            set(),
            id="modified-not-added",
        ),
        pytest.param(
            [(Change.deleted, _at("x.jpg.part")), (Change.added, _at("x.jpg.tmp"))],
            set(),
            id="added-temporary-itself",
        ),
        pytest.param(
            [
                (Change.deleted, _at("a.jpg.part")),
                (Change.added, _at("a.jpg")),
                (Change.deleted, _at("b.txt.part")),
                (Change.added, _at("b.txt")),
                (Change.added, _at("c.jpg")),
            ],
            {"a.jpg", "b.txt"},
            id="several-in-one-batch",
        ),
    ],
)
def test_renamed_in(changes: list[tuple[Change, str]], expected: set[str]) -> None:
    """Added files count as renamed in only beside the deletion of their temporary file."""
    assert renamed_in(changes) == frozenset(INBOX / name for name in expected)


def test_renamed_in_ignores_a_temporary_of_a_longer_name() -> None:
    """`IMG_12.jpg.part` renamed in does not make a directly copied `IMG_1.jpg` count as renamed."""
    changes = [
        (Change.deleted, _at("IMG_12.jpg.part")),
        (Change.added, _at("IMG_12.jpg")),
        (Change.added, _at("IMG_1.jpg")),
    ]
    assert renamed_in(changes) == frozenset({INBOX / "IMG_12.jpg"})


def test_renamed_in_ignores_the_sibling_of_a_renamed_file() -> None:
    """A caption written beside an image renamed from `x.jpg.part` did not arrive by rename."""
    changes = [
        (Change.deleted, _at("x.jpg.part")),
        (Change.added, _at("x.jpg")),
        (Change.added, _at("x.txt")),
    ]
    assert renamed_in(changes) == frozenset({INBOX / "x.jpg"})


# --- watcher.InboxFilter -------------------------------------------------------------------

CONFIG = Path("/srv/config.yaml")


@pytest.mark.parametrize(
    ("change", "path", "kept"),
    [
        pytest.param(Change.added, INBOX / "x.jpg", True, id="inbox-file"),
        pytest.param(Change.modified, INBOX / "x.txt", True, id="inbox-caption-modified"),
        pytest.param(Change.deleted, INBOX / "x.jpg", True, id="inbox-file-deleted"),
        pytest.param(Change.added, INBOX / "unknown.pdf", True, id="inbox-unrecognised"),
        pytest.param(Change.added, INBOX / "sub" / "x.jpg", False, id="sub-folder"),
        pytest.param(Change.deleted, INBOX / "sub" / "x.jpg.part", False, id="sub-folder-tmp"),
        pytest.param(Change.modified, CONFIG, True, id="config-file"),
        pytest.param(Change.added, CONFIG, True, id="config-file-added"),
        pytest.param(Change.added, CONFIG.parent / "other.yaml", False, id="config-sibling"),
        pytest.param(Change.added, INBOX / "x.jpg.part", False, id="temporary-added"),
        pytest.param(Change.modified, INBOX / "x.jpg.part", False, id="temporary-modified"),
        pytest.param(Change.deleted, INBOX / "x.jpg.part", True, id="temporary-deleted"),
        pytest.param(Change.added, INBOX / ".DS_Store", False, id="ds-store"),
        pytest.param(Change.deleted, INBOX / ".x.jpg.AbC123", True, id="rsync-temp-deleted"),
    ],
)
def test_inbox_filter(change: Change, path: Path, kept: bool) -> None:
    """Only the inbox's own files and the config file pass; ignored files only when deleted."""
    assert InboxFilter(INBOX, CONFIG)(change, str(path)) is kept


def test_settle_counts_from_the_mtime_within_the_credit() -> None:
    """A file already still for a while by its mtime gets at most `mtime_credit` of that time."""
    tracker = SettleTracker(SETTLE, mtime_credit=0.25)
    old = InboxFile(Path("/inbox/old.jpg"), 10, time.time_ns() - 10_000_000_000, False)
    tracker.observe([old], now=100.0)
    assert tracker.ready_at(old) == pytest.approx(100.0 - 0.25 + SETTLE)


def test_a_file_written_just_now_gets_no_credit() -> None:
    """A file whose mtime is now starts settling now."""
    tracker = SettleTracker(SETTLE, mtime_credit=0.25)
    fresh = InboxFile(Path("/inbox/fresh.jpg"), 10, time.time_ns() + 1_000_000_000, False)
    tracker.observe([fresh], now=100.0)
    assert tracker.ready_at(fresh) == 100.0 + SETTLE


# --- files waiting for their partner -------------------------------------------------------


def _warnings(logs: list[MutableMapping[str, Any]], event: str) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == event]


def test_a_caption_alone_gets_one_warning_once_it_has_waited_the_bound(inbox: Path) -> None:
    """x.txt without an image: one warning naming it and what it waits for, after 60 s (the
    default orphan_warning_seconds), and never again on later looks."""
    (inbox / "x.txt").write_text("a caption", encoding="utf-8")
    box = Inbox(inbox, settle_seconds=2.0)
    with capture_logs() as logs:
        assert box.due(1000.0) == ([], 1060.0)  # woken up when the warning is due
        box.due(1059.0)
        assert _warnings(logs, "inbox.orphan") == []
        box.due(1060.0)
        box.due(2000.0)
        box.due(3000.0, changed=[inbox / "x.txt"])
    (warning,) = _warnings(logs, "inbox.orphan")
    assert warning["log_level"] == "warning"
    assert warning["file"] == "x.txt"
    assert warning["waits_for"] == "an image x.jpg, x.jpeg, x.png or x.webp"
    assert warning["waited_seconds"] == 60


def test_the_bound_is_orphan_warning_seconds(inbox: Path) -> None:
    """With orphan_warning_seconds 300 an image waits 300 s for its caption before the warning."""
    make_image(inbox / "y.png", image_format="PNG")
    box = Inbox(inbox, settle_seconds=2.0, orphan_warning_seconds=300.0)
    with capture_logs() as logs:
        assert box.due(0.0)[1] == 300.0
        box.due(299.0)
        assert _warnings(logs, "inbox.orphan") == []
        box.due(300.0)
    (warning,) = _warnings(logs, "inbox.orphan")
    assert (warning["file"], warning["waits_for"]) == ("y.png", "its caption y.txt")


def test_a_file_whose_partner_comes_gets_no_warning(inbox: Path) -> None:
    """The bound counts only while the file is alone."""
    (inbox / "z.txt").write_text("a caption", encoding="utf-8")
    box = Inbox(inbox, settle_seconds=2.0)
    with capture_logs() as logs:
        box.due(0.0)
        make_image(inbox / "z.jpg")
        box.due(59.0)  # paired just before the bound, and complete 2 s later
        due, _ = box.due(62.0)
        assert [candidate.stem for candidate in due] == ["z"]
        box.due(120.0)
    assert _warnings(logs, "inbox.orphan") == []


def test_an_entry_that_is_not_a_file_is_reported_at_once_and_once(inbox: Path) -> None:
    """A directory named like an image gets one warning saying what it is, at the first look."""
    (inbox / "album.jpg").mkdir()
    box = Inbox(inbox, settle_seconds=2.0)
    with capture_logs() as logs:
        box.due(0.0)
        box.due(100.0)
    (warning,) = _warnings(logs, "inbox.not_a_file")
    assert warning["file"] == "album.jpg"
    assert warning["reason"] == "album.jpg is a directory, not a file; dropcast never opens it"
    assert _warnings(logs, "inbox.orphan") == []


async def test_the_photo_left_behind_by_a_change_during_publishing_is_reported(
    tmp_path: Path,
) -> None:
    """A photo replaced while its post was published stays in the inbox without its caption
    (archived with the post): the daemon says once that it waits for a caption."""
    registry = Registry.discover(packages=TEST_PACKAGES, entry_point_group=None)
    config = write_config(
        tmp_path, {"recording": {"enabled": True, "delay": 1.0}}, orphan_warning_seconds=1.0
    )
    inbox = tmp_path / "inbox"
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            write_post(inbox, "swap", "the first photo")
            await wait_for(lambda: RECEIVED["recording"], what="publishing to start")
            make_image(inbox / "swap.jpg.part", (80, 60))
            os.replace(inbox / "swap.jpg.part", inbox / "swap.jpg")
            await wait_for(lambda: _warnings(logs, "inbox.orphan"), what="the orphan warning")
            await anyio.sleep(1.5)  # later looks at the inbox say nothing more
    assert inbox_files(tmp_path) == ["swap.jpg"]
    (warning,) = _warnings(logs, "inbox.orphan")
    assert (warning["file"], warning["waits_for"]) == ("swap.jpg", "its caption swap.txt")


# --- names that are not UTF-8 --------------------------------------------------------------

BAD_NAMES = (b"caf\xe9.jpg", b"caf\xe9.txt")


def _drop_undecodable_pair(inbox: Path) -> dict[Path, tuple[int, int, int, int]]:
    """An image and a caption named `caf\\xe9` (Latin-1, not UTF-8); returns their stat.

    The access time is set before the mtime, so that reading a file moves it (relatime).
    """
    found = {}
    for name in BAD_NAMES:
        path = Path(os.fsdecode(os.fsencode(inbox) + b"/" + name))
        if name.endswith(b".jpg"):
            make_image(path)
        else:
            path.write_text("a caption", encoding="utf-8")
        mtime = path.stat().st_mtime_ns
        os.utime(path, ns=(mtime - 10_000_000_000, mtime))
        found[path] = _identity(path)
    return found


def _identity(path: Path) -> tuple[int, int, int, int]:
    info = os.stat(path)
    return info.st_ino, info.st_size, info.st_mtime_ns, info.st_atime_ns


def _undecodable_warnings(logs: list[MutableMapping[str, Any]]) -> list[str]:
    found = _warnings(logs, "inbox.undecodable_name")
    assert all(entry["log_level"] == "warning" for entry in found)
    assert all("rename it to a UTF-8 name" in entry["reason"] for entry in found)
    return sorted(entry["file"] for entry in found)


def test_a_name_that_is_not_utf8_is_no_post_and_is_named_once(inbox: Path) -> None:
    """`caf\\xe9.jpg` + `caf\\xe9.txt` are never due; each gets one warning showing the byte."""
    _drop_undecodable_pair(inbox)
    write_post(inbox, "good")
    box = Inbox(inbox, settle_seconds=0.0)
    with capture_logs() as logs:
        due, _ = box.due(100.0)
        box.due(200.0)
        box.due(300.0, changed=[inbox / "good.jpg"])
    assert [candidate.stem for candidate in due] == ["good"]
    assert _undecodable_warnings(logs) == ["caf\\xe9.jpg", "caf\\xe9.txt"]


async def test_a_name_that_is_not_utf8_dropped_while_running_is_left_alone(
    tmp_path: Path, registry: Registry
) -> None:
    """Dropped beside good posts: they are published, the daemon keeps running, the
    undecodable files stay in the inbox unread, with one warning each."""
    config = write_config(tmp_path)
    inbox = tmp_path / "inbox"
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            bad = _drop_undecodable_pair(inbox)
            write_post(inbox, "good")
            await wait_for(lambda: len(RECEIVED["recording"]) == 1, within=30, what="good")
            write_post(inbox, "later")  # after watchfiles met the bad name
            await wait_for(lambda: len(RECEIVED["recording"]) == 2, within=30, what="later")
            await wait_for(lambda: len(_undecodable_warnings(logs)) == 2, what="the warnings")
    assert sorted(post.stem for post in RECEIVED["recording"]) == ["good", "later"]
    _assert_left_alone(tmp_path, bad, logs)


async def test_a_name_that_is_not_utf8_found_at_start_is_left_alone(
    tmp_path: Path, registry: Registry
) -> None:
    """Already in the inbox at start (the full listing sees it): the good post is published,
    the undecodable files stay unread, with one warning each."""
    config = write_config(tmp_path)
    inbox = tmp_path / "inbox"
    bad = _drop_undecodable_pair(inbox)
    write_post(inbox, "good")
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            await wait_for(lambda: RECEIVED["recording"], within=30, what="the good post")
            await wait_for(lambda: len(_undecodable_warnings(logs)) == 2, what="the warnings")
            write_post(inbox, "later")
            await wait_for(lambda: len(RECEIVED["recording"]) == 2, within=30, what="later")
    _assert_left_alone(tmp_path, bad, logs)


def _assert_left_alone(
    folder: Path, bad: dict[Path, tuple[int, int, int, int]], logs: list[MutableMapping[str, Any]]
) -> None:
    assert sorted(os.listdir(os.fsencode(folder / "inbox"))) == [b".dropcast.lock", *BAD_NAMES]
    assert {path: _identity(path) for path in bad} == bad  # not moved, changed or read
    assert _undecodable_warnings(logs) == ["caf\\xe9.jpg", "caf\\xe9.txt"]
    assert _warnings(logs, "post.crashed") == []
