"""The files of the inbox: which are ignored, how they pair into posts.

A post is an image and a caption with the same stem (`sunset.jpg` + `sunset.txt`), or an
album: images numbered from 1 (`walk.1.jpg`, `walk.2.png`, …, in numeric order) with one
caption `walk.txt`. A numbered image with a caption of its own (`v1.2.jpg` + `v1.2.txt`)
is a one-image post. An album whose numbers have a gap (1, 3) waits for the missing image,
like an image waits for its caption.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
# Pictures dropcast does not publish: paired all the same, so the post is refused with a reason.
UNSUPPORTED_IMAGE_SUFFIXES = frozenset(
    {".heic", ".heif", ".avif", ".gif", ".bmp", ".tif", ".tiff", ".jxl", ".dng", ".raw"}
)
CAPTION_SUFFIX = ".txt"
_ALBUM_NUMBER = re.compile(r"(.+)\.([0-9]+)")
_IGNORED_NAMES = frozenset({".ds_store", "thumbs.db", "@eadir", ".stfolder", "desktop.ini"})
_TEMPORARY_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".download")
# What an entry is when it is not a file, for the record: it is never opened (a FIFO blocks).
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def is_ignored(name: str) -> bool:
    """True for hidden, temporary and sync-tool files, which dropcast never reads."""
    lowered = name.lower()
    return (
        name.startswith((".", "~$"))
        or name.endswith("~")
        or lowered in _IGNORED_NAMES
        or lowered.endswith(_TEMPORARY_SUFFIXES)
    )


def is_undecodable(name: str) -> bool:
    """True for a name that is not UTF-8 (os.scandir gives its bad bytes as surrogates).

    Such a name cannot be stored in the ledger or a record, so its file is never read or moved.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def shown_name(name: str) -> str:
    """`caf\\xe9.txt` for a name whose byte 0xE9 is not UTF-8: printable, the bytes visible."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def split_name(name: str) -> tuple[str, str]:
    """`'My photo.JPG'` → `('My photo', '.jpg')`: the exact stem and the lower-case suffix."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        return name, ""
    return stem, f".{suffix.lower()}"


def album_member(stem: str) -> tuple[str, int] | None:
    """`'walk.2'` → `('walk', 2)`: the album a numbered stem would belong to, and its place."""
    match = _ALBUM_NUMBER.fullmatch(stem)
    return None if match is None else (match[1], int(match[2]))


@dataclass(frozen=True)
class InboxFile:
    """One file in the inbox as last seen (never followed if it is a symbolic link).

    `kind` says what the entry is when it is not a file (`"a directory"`, `"a FIFO (named
    pipe)"`, …): such an entry is never a file of a post, only the reason one is refused.
    """

    path: Path
    size: int
    mtime_ns: int
    is_symlink: bool
    kind: str | None = None

    @property
    def signature(self) -> tuple[int, int]:
        return self.size, self.mtime_ns


@dataclass(frozen=True)
class Candidate:
    """The files in the inbox that share one stem: a post once it has an image and a caption.

    `images` are the stem's own (`walk.jpg`); `members` the album's numbered ones (`walk.2.jpg`
    as `(2, file)`), in the album's order. A post has one kind or the other, never both.
    """

    stem: str
    images: tuple[InboxFile, ...] = ()
    captions: tuple[InboxFile, ...] = ()
    odd: tuple[InboxFile, ...] = ()  # entries with an image or caption name that are not files
    members: tuple[tuple[int, InboxFile], ...] = ()

    @property
    def files(self) -> tuple[InboxFile, ...]:
        """The post's files; never an `odd` entry, which is neither read nor moved."""
        return (*self.images, *self.album_images, *self.captions)

    @property
    def album_images(self) -> tuple[InboxFile, ...]:
        return tuple(file for _, file in self.members)

    @property
    def post_images(self) -> tuple[InboxFile, ...]:
        """The images the post publishes, in order: the album's, else the stem's own."""
        return self.album_images or self.images

    @property
    def missing_number(self) -> int | None:
        """The first number an album lacks below its highest (2 for 1, 3), or None."""
        expected = 1
        for number in sorted({number for number, _ in self.members if number > 0}):
            if number != expected:
                return expected
            expected += 1
        return None

    @property
    def is_complete(self) -> bool:
        """A pair with no image missing from its album; a pair that is refused anyway counts."""
        return self.is_pair and (self.missing_number is None or self.problem() is not None)

    @property
    def is_pair(self) -> bool:
        """An image and a caption; one may be an odd entry, refused, as long as one is a file."""
        names = [split_name(f.path.name)[1] == CAPTION_SUFFIX for f in (*self.files, *self.odd)]
        return bool(self.files) and any(names) and not all(names)

    @property
    def signature(self) -> tuple[tuple[str, int, int], ...]:
        return tuple(sorted((f.path.name, *f.signature) for f in self.files))

    def problem(self) -> str | None:
        """Why this pair can never be published as it is, or None."""
        if self.odd and not (self.images and self.captions):  # it was needed for the pair
            return f"{not_a_file(self.odd[0])} and left it in the inbox"
        album = self._album_problem()
        if album is not None:
            return album
        if len(self.images) > 1:
            names = ", ".join(sorted(f.path.name for f in self.images))
            return f"ambiguous post {self.stem!r}: several images ({names}) share one caption"
        if len(self.captions) > 1:
            names = ", ".join(sorted(f.path.name for f in self.captions))
            return f"ambiguous post {self.stem!r}: several captions ({names})"
        links = [f.path.name for f in self.files if f.is_symlink]
        if links:
            return f"{', '.join(links)}: a symbolic link; copy the file itself into the inbox"
        unsupported = [
            f.path.name
            for f in (*self.images, *self.album_images)
            if split_name(f.path.name)[1] in UNSUPPORTED_IMAGE_SUFFIXES
        ]
        if unsupported:
            return f"{unsupported[0]}: dropcast publishes JPEG, PNG and WebP; convert the picture to one of them"
        return None

    def _album_problem(self) -> str | None:
        """Why the numbered images cannot make an album: mixed with others, a number twice, 0."""
        if not self.members:
            return None
        if self.images:
            own = ", ".join(sorted(f.path.name for f in self.images))
            first = self.members[0][1].path.name
            return (
                f"ambiguous post {self.stem!r}: {own} and the album images "
                f"{_names(self.album_images)} share one caption; an album numbers every image "
                f"({self.stem}.1, {self.stem}.2, …): rename {own}, or give {first} a caption "
                f"of its own ({split_name(first)[0]}{CAPTION_SUFFIX})"
            )
        numbers = [number for number, _ in self.members]
        if 0 in numbers:
            zero = self.members[numbers.index(0)][1].path.name
            return f"album {self.stem!r}: {zero} is numbered 0; album images are numbered from 1"
        for number in sorted(set(numbers)):
            same = [file for n, file in self.members if n == number]
            if len(same) > 1:
                return (
                    f"ambiguous album {self.stem!r}: {_names(same)} are all image {number}; "
                    "give each image a number of its own"
                )
        return None


def _names(files: Iterable[InboxFile]) -> str:
    return ", ".join(file.path.name for file in files)


def not_a_file(entry: InboxFile) -> str:
    """`x.jpg is a directory, not a file; dropcast never opens it`."""
    return f"{entry.path.name} is {entry.kind}, not a file; dropcast never opens it"


def temporaries_of(candidate: Candidate, temporaries: set[str]) -> list[str]:
    """The temporary files of the post's files, or of images numbered for its album
    (`walk.3.jpg.part`, rsync's `.walk.3.jpg.x1Y2`, syncthing's): the post waits for them."""
    names = tuple(f"{file.path.name}." for file in candidate.files)
    member = re.compile(rf"(?:\.syncthing\.|\.)?{re.escape(candidate.stem)}\.[0-9]+\.")
    return sorted(t for t in temporaries if t.startswith(names) or member.match(t))


class FileTable:
    """The inbox's files as last seen, by name; kept current from events without a full listing."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._by_stem: dict[str, dict[str, InboxFile]] = {}
        self._numbered: dict[str, set[str]] = {}  # `walk` → the stems `walk.1`, `walk.2` there
        self._candidates: dict[str, Candidate] = {}  # built on demand, dropped on a change
        self._folded: dict[str, list[str]] | None = None  # stems by case-folded stem, on demand
        self.temporaries: set[str] = set()
        self.unrecognised: set[str] = set()
        self.undecodable: set[str] = set()  # names that are not UTF-8: never part of a post

    @property
    def stems(self) -> list[str]:
        """The stems of the posts (and would-be posts) present: an album's once, not its images'."""
        return list(dict.fromkeys(self._album_of(stem) or stem for stem in self._by_stem))

    def stems_like(self, folded: str) -> list[str]:
        """The stems present that equal `folded` when case is ignored (`Cliff` for `cliff`)."""
        if self._folded is None:
            self._folded = {}
            for stem in self.stems:
                self._folded.setdefault(stem.casefold(), []).append(stem)
        return self._folded.get(folded, [])

    def _album_of(self, stem: str) -> str | None:
        """The album whose image `stem` is (`walk` for `walk.2`); None for a post of its own:
        a stem not numbered, or with a caption of its own (`v1.2.txt`)."""
        member = album_member(stem)
        if member is None:
            return None
        names = self._by_stem.get(stem, {})
        return None if any(split_name(n)[1] == CAPTION_SUFFIX for n in names) else member[0]

    def rescan(self) -> list[InboxFile]:
        """List the whole folder again (raises OSError if it cannot); returns every file."""
        self._by_stem, self.temporaries, self.unrecognised = {}, set(), set()
        self._candidates, self.undecodable, self._numbered = {}, set(), {}
        self._folded = None
        with os.scandir(self.folder) as entries:
            for entry in entries:
                self._record(entry.name, _look_at(Path(entry.path)))
        return [file for files in self._by_stem.values() for file in files.values()]

    def update(self, names: Iterable[str]) -> tuple[list[InboxFile], list[Path]]:
        """Look again at these names only; returns the files seen and the paths now gone."""
        seen, gone = [], []
        for name in names:
            file = _look_at(self.folder / name)
            self._record(name, file)
            if file is None:
                gone.append(self.folder / name)
            else:
                seen.append(file)
        return seen, gone

    def candidate(self, stem: str) -> Candidate:
        found = self._candidates.get(stem)
        if found is None:
            found = self._candidates[stem] = self._build_candidate(stem)
        return found

    def _build_candidate(self, stem: str) -> Candidate:
        entries = sorted(self._by_stem.get(stem, {}).items())
        files = [(name, f) for name, f in entries if f.kind is None]
        images = tuple(f for name, f in files if split_name(name)[1] != CAPTION_SUFFIX)
        captions = tuple(f for name, f in files if split_name(name)[1] == CAPTION_SUFFIX)
        odd = [f for _, f in entries if f.kind is not None]
        members = []
        for member_stem in self._numbered.get(stem, ()):
            member = album_member(member_stem)
            if member is None or self._album_of(member_stem) != stem:
                continue  # a post of its own
            for _, file in sorted(self._by_stem[member_stem].items()):
                if file.kind is None:
                    members.append((member[1], file))
                else:
                    odd.append(file)
        members.sort(key=lambda member: (member[0], member[1].path.name))
        return Candidate(stem, images, captions, tuple(odd), tuple(members))

    def being_written(self, candidate: Candidate) -> list[str]:
        """The temporaries the post waits for (none: it is not being written)."""
        return temporaries_of(candidate, self.temporaries) if self.temporaries else []

    def _record(self, name: str, file: InboxFile | None) -> None:
        stem, suffix = split_name(name)
        self._candidates.pop(stem, None)
        self._folded = None
        member = album_member(stem)
        if member is not None:  # it may be an image of that album, or stop being one
            self._candidates.pop(member[0], None)
        self._record_in_stem(name, stem, suffix, file)
        if member is not None:
            self._note_numbered(member[0], stem)

    def _note_numbered(self, album: str, stem: str) -> None:
        numbered = self._numbered.setdefault(album, set())
        if stem in self._by_stem:
            numbered.add(stem)
        else:
            numbered.discard(stem)
        if not numbered:
            del self._numbered[album]

    def _record_in_stem(self, name: str, stem: str, suffix: str, file: InboxFile | None) -> None:
        self.temporaries.discard(name)
        self.unrecognised.discard(name)
        self.undecodable.discard(name)
        self._by_stem.get(stem, {}).pop(name, None)
        if not self._by_stem.get(stem, True):
            del self._by_stem[stem]
        if file is None:
            if is_ignored(name) and os.path.lexists(self.folder / name):
                self.temporaries.add(name)
            return
        if is_undecodable(name):
            self.undecodable.add(name)
        elif _is_post_suffix(suffix):
            self._by_stem.setdefault(stem, {})[name] = file
        else:
            self.unrecognised.add(name)


def _look_at(path: Path) -> InboxFile | None:
    """The entry at `path` if it could be part of a post (never following a symbolic link).

    A directory, FIFO, socket or device is looked at only if its name is an image's or a
    caption's, and only to say what it is: it is never opened.
    """
    if is_ignored(path.name):
        return None
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None  # gone between listing and looking
    is_link = stat.S_ISLNK(info.st_mode)
    if is_link or stat.S_ISREG(info.st_mode):
        return InboxFile(path, info.st_size, info.st_mtime_ns, is_link)
    if not _is_post_suffix(split_name(path.name)[1]):
        return None  # sub-folders and the like with other names are none of dropcast's
    kind = next((name for test, name in _KINDS if test(info.st_mode)), "an entry of no known kind")
    return InboxFile(path, info.st_size, info.st_mtime_ns, False, kind)


def _is_post_suffix(suffix: str) -> bool:
    return (
        suffix in IMAGE_SUFFIXES or suffix in UNSUPPORTED_IMAGE_SUFFIXES or suffix == CAPTION_SUFFIX
    )
