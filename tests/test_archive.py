"""Filing a post into the archive: moves that never overwrite and survive file-system borders."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.archive import plan_filing, previous_records, write_new_file
from daemon.registry import Registry
from tests.conftest import (
    archived,
    inbox_files,
    make_image,
    running_daemon,
    wait_for,
    write_config,
    write_post,
)
from tests.helpers import file_post

RECORD: dict[str, Any] = {
    "post": "sunset",
    "outcome": "published",
    "started_at": "2024-06-01T10:00:00+00:00",
    "finished_at": "2024-06-01T10:00:01+00:00",
    "platforms": {"preview": {"ok": True, "id": "1", "url": None, "error": None}},
    "note": "café 🌅",
}


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return tmp_path / "archive" / "2024-06-01"


def _post_files(inbox: Path, stem: str = "sunset", caption: str = "A caption") -> list[Path]:
    image = write_post(inbox, stem, caption)
    return [image, inbox / f"{stem}.txt"]


def _leftover_temporaries(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(".dropcast-tmp-")]


def test_file_post_moves_image_and_caption(inbox: Path, archive: Path) -> None:
    """The image and caption arrive in the destination with their content intact."""
    files = _post_files(inbox)
    contents = [f.read_bytes() for f in files]
    file_post(files, "sunset", RECORD, archive)
    assert (archive / "sunset.jpg").read_bytes() == contents[0]
    assert (archive / "sunset.txt").read_bytes() == contents[1]


def test_file_post_writes_the_result_record(inbox: Path, archive: Path) -> None:
    """`<stem>.result.json` is valid JSON equal to the record given."""
    file_post(_post_files(inbox), "sunset", RECORD, archive)
    text = (archive / "sunset.result.json").read_text(encoding="utf-8")
    assert json.loads(text) == RECORD


def test_file_post_returns_new_paths_record_last(inbox: Path, archive: Path) -> None:
    """The returned paths are the moved files in order, then the record."""
    moved = file_post(_post_files(inbox), "sunset", RECORD, archive)
    assert moved == [archive / "sunset.jpg", archive / "sunset.txt", archive / "sunset.result.json"]


def test_file_post_creates_the_destination_folder(inbox: Path, tmp_path: Path) -> None:
    """A destination folder that does not exist yet is created, parents included."""
    destination = tmp_path / "deep" / "er" / "archive"
    file_post(_post_files(inbox), "sunset", RECORD, destination)
    assert (destination / "sunset.result.json").is_file()


def test_file_post_leaves_nothing_in_the_source_folder(inbox: Path, archive: Path) -> None:
    """After filing, the inbox holds none of the post's files."""
    file_post(_post_files(inbox), "sunset", RECORD, archive)
    assert os.listdir(inbox) == []


def test_file_post_leaves_no_temporary_files(inbox: Path, archive: Path) -> None:
    """No hidden `.dropcast-tmp-*` file is left in the destination."""
    file_post(_post_files(inbox), "sunset", RECORD, archive)
    file_post(_post_files(inbox), "sunset", RECORD, archive)
    assert _leftover_temporaries(archive) == []


def test_file_post_same_stem_twice_gets_suffix_one(inbox: Path, archive: Path) -> None:
    """A second post with the same stem is filed as `stem-1.*`, every file of it."""
    file_post(_post_files(inbox, caption="first"), "sunset", RECORD, archive)
    moved = file_post(_post_files(inbox, caption="second"), "sunset", RECORD, archive)
    assert [p.name for p in moved] == ["sunset-1.jpg", "sunset-1.txt", "sunset-1.result.json"]
    assert (archive / "sunset-1.txt").read_text(encoding="utf-8") == "second"


def test_file_post_same_stem_twice_leaves_the_first_untouched(inbox: Path, archive: Path) -> None:
    """Filing a second post with the same stem never changes the first one's bytes."""
    first = file_post(_post_files(inbox, caption="first"), "sunset", RECORD, archive)
    before = {path: path.read_bytes() for path in first}
    file_post(_post_files(inbox, caption="second"), "sunset", {"post": "other"}, archive)
    assert {path: path.read_bytes() for path in first} == before


def test_file_post_same_stem_three_times_gets_suffix_two(inbox: Path, archive: Path) -> None:
    """A third post with the same stem is filed as `stem-2.*`."""
    for caption in ("first", "second"):
        file_post(_post_files(inbox, caption=caption), "sunset", RECORD, archive)
    moved = file_post(_post_files(inbox, caption="third"), "sunset", RECORD, archive)
    assert [p.name for p in moved] == ["sunset-2.jpg", "sunset-2.txt", "sunset-2.result.json"]
    assert sorted(os.listdir(archive)) == sorted(
        f"sunset{n}{s}" for n in ("", "-1", "-2") for s in (".jpg", ".txt", ".result.json")
    )


def test_file_post_any_taken_name_moves_the_whole_post(inbox: Path, archive: Path) -> None:
    """If only the record's name is taken, every file of the post still gets the suffix."""
    archive.mkdir(parents=True)
    (archive / "sunset.result.json").write_text("{}", encoding="utf-8")
    moved = file_post(_post_files(inbox), "sunset", RECORD, archive)
    assert [p.name for p in moved] == ["sunset-1.jpg", "sunset-1.txt", "sunset-1.result.json"]
    assert (archive / "sunset.result.json").read_text(encoding="utf-8") == "{}"


def test_file_post_keeps_the_suffix_case(inbox: Path, archive: Path) -> None:
    """`A.JPG` is archived as `A.JPG`, not lower-cased."""
    image = make_image(inbox / "A.JPG")
    caption = inbox / "A.txt"
    caption.write_text("caption", encoding="utf-8")
    file_post([image, caption], "A", RECORD, archive)
    assert sorted(os.listdir(archive)) == ["A.JPG", "A.result.json", "A.txt"]


def test_file_post_keeps_a_unicode_stem(inbox: Path, archive: Path) -> None:
    """A stem with spaces, accents and an emoji is kept exactly."""
    stem = "café crème 🌅"
    file_post(_post_files(inbox, stem), stem, RECORD, archive)
    assert sorted(os.listdir(archive)) == sorted(
        f"{stem}{s}" for s in (".jpg", ".txt", ".result.json")
    )


def test_file_post_files_a_post_with_a_long_stem(inbox: Path, archive: Path) -> None:
    """A stem whose names fit the file system (230 bytes) is filed with its record."""
    stem = "p" * 230
    file_post(_post_files(inbox, stem), stem, RECORD, archive)
    assert (archive / f"{stem}.result.json").is_file()


def test_file_post_moves_a_symlink_as_a_link(inbox: Path, archive: Path, tmp_path: Path) -> None:
    """A symbolic link is archived as the same link, and its target is left alone."""
    target = make_image(tmp_path / "outside.jpg")
    target_bytes = target.read_bytes()
    link = inbox / "linked.jpg"
    link.symlink_to(target)
    file_post([link], "linked", RECORD, archive)
    assert (archive / "linked.jpg").is_symlink()
    assert os.readlink(archive / "linked.jpg") == str(target)
    assert target.read_bytes() == target_bytes
    assert not link.is_symlink()


def test_file_post_moves_a_dangling_symlink(inbox: Path, archive: Path, tmp_path: Path) -> None:
    """A symbolic link to nothing is moved too, still pointing at nothing."""
    link = inbox / "ghost.jpg"
    link.symlink_to(tmp_path / "missing.jpg")
    file_post([link], "ghost", RECORD, archive)
    assert os.readlink(archive / "ghost.jpg") == str(tmp_path / "missing.jpg")
    assert os.listdir(inbox) == []


# --- across file systems -------------------------------------------------------------------


@pytest.fixture
def other_file_system(tmp_path: Path) -> Iterator[Path]:
    """A fresh folder in /dev/shm, on a different device than tmp_path, removed afterwards."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("/dev/shm does not exist, so there is no second file system to move from")
    if shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("/dev/shm is on the same device as tmp_path: no cross-file-system move")
    folder = Path(tempfile.mkdtemp(prefix="dropcast-test-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_file_post_across_file_systems_copies_content(
    other_file_system: Path, archive: Path
) -> None:
    """A post moved from another file system arrives with identical bytes."""
    files = _post_files(other_file_system, caption="across")
    contents = [f.read_bytes() for f in files]
    file_post(files, "sunset", RECORD, archive)
    assert (archive / "sunset.jpg").read_bytes() == contents[0]
    assert (archive / "sunset.txt").read_bytes() == contents[1]
    assert json.loads((archive / "sunset.result.json").read_text(encoding="utf-8")) == RECORD


def test_file_post_across_file_systems_removes_the_source(
    other_file_system: Path, archive: Path
) -> None:
    """After a move from another file system, the source files are gone."""
    file_post(_post_files(other_file_system), "sunset", RECORD, archive)
    assert os.listdir(other_file_system) == []


def test_file_post_across_file_systems_leaves_no_temporary_files(
    other_file_system: Path, archive: Path
) -> None:
    """A copy across file systems leaves no hidden temporary file in the destination."""
    file_post(_post_files(other_file_system), "sunset", RECORD, archive)
    assert _leftover_temporaries(archive) == []


def test_file_post_across_file_systems_never_overwrites(
    other_file_system: Path, archive: Path, inbox: Path
) -> None:
    """A same-named post from another file system gets `-1`, the first left as it was."""
    first = file_post(_post_files(inbox, caption="first"), "sunset", RECORD, archive)
    before = {path: path.read_bytes() for path in first}
    moved = file_post(_post_files(other_file_system, caption="second"), "sunset", RECORD, archive)
    assert [p.name for p in moved] == ["sunset-1.jpg", "sunset-1.txt", "sunset-1.result.json"]
    assert {path: path.read_bytes() for path in first} == before


def test_file_post_across_file_systems_moves_a_symlink_as_a_link(
    other_file_system: Path, archive: Path, tmp_path: Path
) -> None:
    """A symbolic link from another file system is recreated as a link, its target unread."""
    target = make_image(tmp_path / "outside.jpg")
    link = other_file_system / "linked.jpg"
    link.symlink_to(target)
    file_post([link], "linked", RECORD, archive)
    assert os.readlink(archive / "linked.jpg") == str(target)
    assert os.listdir(other_file_system) == []
    assert _leftover_temporaries(archive) == []


# --- write_new_file ------------------------------------------------------------------------


def test_write_new_file_writes_bytes(tmp_path: Path) -> None:
    """Bytes given are written to a new file."""
    target = tmp_path / "new.bin"
    write_new_file(target, b"\x00hello\xff")
    assert target.read_bytes() == b"\x00hello\xff"


def test_write_new_file_copies_a_binary_stream(tmp_path: Path) -> None:
    """A binary file object given is copied whole, beyond one buffer's length."""
    data = os.urandom(3 * 1024 * 1024 + 17)
    target = tmp_path / "new.bin"
    write_new_file(target, io.BytesIO(data))
    assert target.read_bytes() == data


def test_write_new_file_refuses_to_overwrite(tmp_path: Path) -> None:
    """Writing to an existing name raises FileExistsError."""
    target = tmp_path / "taken.txt"
    target.write_bytes(b"original")
    with pytest.raises(FileExistsError):
        write_new_file(target, b"replacement")


def test_write_new_file_leaves_an_existing_file_untouched(tmp_path: Path) -> None:
    """A refused write leaves the existing file's bytes and no temporary file behind."""
    target = tmp_path / "taken.txt"
    target.write_bytes(b"original")
    with pytest.raises(FileExistsError):
        write_new_file(target, b"replacement")
    assert target.read_bytes() == b"original"
    assert sorted(os.listdir(tmp_path)) == ["taken.txt"]


def test_write_new_file_refuses_to_replace_a_symlink(tmp_path: Path) -> None:
    """A dangling symbolic link at the name counts as taken, and nothing is written through it."""
    target = tmp_path / "link.txt"
    target.symlink_to(tmp_path / "elsewhere.txt")
    with pytest.raises(FileExistsError):
        write_new_file(target, b"data")
    assert not (tmp_path / "elsewhere.txt").exists()


FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # one emoji of 7 code points, 25 bytes in UTF-8


def test_a_long_emoji_stem_is_cut_by_bytes_between_whole_emoji(inbox: Path, archive: Path) -> None:
    """A 250-byte stem filed 13 times: every name, `-12.result.json` included, is at most 255
    bytes, and each is cut after a whole emoji, never inside one."""
    stem = FAMILY * 10
    for number in range(13):
        file_post(_post_files(inbox, stem, f"take {number}"), stem, RECORD, archive)
    names = os.listdir(archive)
    assert len(names) == 13 * 3
    assert all(len(name.encode()) <= 255 for name in names)
    for name in names:
        cut = name.split("-")[0].split(".")[0]
        assert cut, name
        assert cut == FAMILY * (len(cut) // len(FAMILY)), name
    assert any(name.endswith("-12.result.json") for name in names)


# --- a post moved back from failed/ --------------------------------------------------------


def _failed_files(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "failed").iterdir())


async def test_a_post_moved_back_from_failed_takes_its_old_record_along(
    tmp_path: Path, registry: Registry
) -> None:
    """The owner moves tide.jpg, tide.txt and tide.result.json back into the inbox; once
    published, the old record sits beside the new one as tide.previous.result.json, nothing
    is left in the inbox and nothing is overwritten."""
    config = write_config(
        tmp_path, {"recording": {"enabled": True, "fail_first": 1}}, max_attempts=1
    )
    inbox, failed = tmp_path / "inbox", tmp_path / "failed"
    async with running_daemon(config, registry):
        write_post(inbox, "tide")
        await wait_for(lambda: len(_failed_files(tmp_path)) == 3, what="tide in failed/")
        old_record = (failed / "tide.result.json").read_text(encoding="utf-8")
        for name in ("tide.result.json", "tide.jpg", "tide.txt"):  # the record first, as `mv` may
            os.rename(failed / name, inbox / name)
        await wait_for(lambda: len(archived(tmp_path)) == 4, what="tide archived with its records")
    assert inbox_files(tmp_path) == []
    assert [p.name for p in archived(tmp_path)] == [
        "tide.jpg",
        "tide.previous.result.json",
        "tide.result.json",
        "tide.txt",
    ]
    day = archived(tmp_path)[0].parent
    assert (day / "tide.previous.result.json").read_text(encoding="utf-8") == old_record
    record = json.loads((day / "tide.result.json").read_text(encoding="utf-8"))
    assert (record["outcome"], record["previous_records"]) == (
        "published",
        ["tide.previous.result.json"],
    )


def test_earlier_records_are_numbered_by_age_and_never_overwrite(tmp_path: Path) -> None:
    """A post that went to failed/ twice brings two records: the newer becomes
    .previous.result.json, the older .previous-2.result.json; a name taken in the archive
    moves the whole post to the next free stem."""
    inbox, day = tmp_path / "inbox", tmp_path / "archive" / "day"
    inbox.mkdir()
    day.mkdir(parents=True)
    files = [make_image(inbox / "x.jpg")]
    for name in ("x.result.json", "x.previous.result.json", "x.2.result.json"):
        (inbox / name).write_text(name, encoding="utf-8")
    (day / "x.previous.result.json").write_text("someone else's", encoding="utf-8")
    previous = previous_records(inbox, "x")
    assert [p.name for p in previous] == ["x.result.json", "x.previous.result.json"]
    filing = plan_filing(files, "x", day, previous=previous)
    assert [(s.name, t.name) for s, t in filing.moves] == [
        ("x.jpg", "x-1.jpg"),
        ("x.result.json", "x-1.previous.result.json"),
        ("x.previous.result.json", "x-1.previous-2.result.json"),
    ]
    assert filing.record_path.name == "x-1.result.json"
