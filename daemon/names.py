"""File names: as a platform can take them, and as short as a file system needs them.

A Linux file name may hold any character but `/` and NUL, so a stem can carry a newline,
a carriage return or another control character. Such a name is legal on the disk but not
in an HTTP or MIME header (aiohttp refuses it outright). And NAME_MAX (255) counts bytes,
not characters: 64 emoji are 256 bytes.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

NAME_MAX = 255  # bytes: ext4, XFS, Btrfs, tmpfs, NTFS through ntfs-3g, …
# Characters that never go into a name sent to a platform: control characters (CR, LF, TAB,
# DEL, C1), line and paragraph separators, and lone surrogates (a name that is not UTF-8).
_UNSENDABLE = frozenset({"Cc", "Zl", "Zp", "Cs"})
REPLACEMENT = "_"


def sendable(name: str) -> str:
    """`name` with every control character (and line separator) replaced by `_`.

    Only those: accents, emoji and their joiners stay, so the platform shows the name the
    person chose, less what no header can carry.
    """
    if name.isprintable():  # the common case, in C
        return name
    return "".join(
        REPLACEMENT if unicodedata.category(char) in _UNSENDABLE else char for char in name
    )


def utf8_length(text: str) -> int:
    """The length of `text` on the disk, in bytes (a name that is not UTF-8 counts as it is)."""
    return len(os.fsencode(text))


def cut_to_bytes(text: str, limit: int) -> str:
    """The longest start of `text` that is at most `limit` bytes, cut between characters.

    Cut between grapheme clusters where it can (an emoji family or an accented letter stays
    whole), so the shortened name shows no half of a character.
    """
    if utf8_length(text) <= limit:
        return text
    import regex  # only when a name is cut, which is rare: it costs memory to load

    kept, used = [], 0
    for cluster in regex.findall(r"\X", text):
        size = utf8_length(cluster)
        if used + size > limit:
            break
        kept.append(cluster)
        used += size
    if not kept:  # one cluster longer than the room (a long run of combining marks)
        return _cut_code_points(text, limit)
    return "".join(kept)


def _cut_code_points(text: str, limit: int) -> str:
    kept, used = [], 0
    for char in text:
        used += utf8_length(char)
        if used > limit:
            break
        kept.append(char)
    return "".join(kept)


def name_max(folder: Path) -> int:
    """The longest file name, in bytes, that `folder`'s file system takes."""
    try:
        return min(NAME_MAX, os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return NAME_MAX
