"""`dropcast check`: the config's problems in plain words, and `--connect` reporting each platform
once without changing anything on disk."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.test_cli import config_file, dropcast


def test_connect_prints_each_platform_once(tmp_path: Path) -> None:
    """One line per platform on stdout, and no log event repeating it on stderr."""
    config = config_file(tmp_path)
    result = dropcast("--config", str(config), "check", "--connect")
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        f"{config}: valid; enabled platforms: preview",
        f"preview: ok: gallery at {tmp_path / 'preview' / 'index.html'} "
        "(the folder is made with the first post)",
    ]
    assert result.stderr == ""


def test_connect_makes_no_preview_folder(tmp_path: Path) -> None:
    """A check changes nothing: the gallery's folder is made by the first post, not by `check`."""
    config = config_file(tmp_path, {"preview": {"enabled": True, "folder": "pages/preview"}})
    result = dropcast("--config", str(config), "check", "--connect")
    assert result.returncode == 0, result.stdout
    assert not (tmp_path / "pages").exists()


def test_connect_says_an_existing_folder_is_the_gallery(tmp_path: Path) -> None:
    """A gallery folder that is there is named without the note about making it."""
    (tmp_path / "preview").mkdir()
    config = config_file(tmp_path)
    result = dropcast("--config", str(config), "check", "--connect")
    assert f"preview: ok: gallery at {tmp_path / 'preview' / 'index.html'}\n" in result.stdout


def test_connect_fails_where_the_folder_cannot_be_made(tmp_path: Path) -> None:
    """A file in the way of the gallery's folder fails the check, naming it."""
    (tmp_path / "pages").write_text("a file, not a folder", encoding="utf-8")
    config = config_file(tmp_path, {"preview": {"enabled": True, "folder": "pages/preview"}})
    result = dropcast("--config", str(config), "check", "--connect")
    assert result.returncode == 1
    assert result.stdout.splitlines()[1] == (
        f"preview: FAILED: NotADirectoryError: {tmp_path / 'pages'} is not a folder, "
        f"so {tmp_path / 'pages' / 'preview'} cannot be made"
    )
    assert result.stderr == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
def test_connect_fails_where_the_folder_cannot_be_written(tmp_path: Path) -> None:
    """A parent folder dropcast may not write fails the check, naming it."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    config = config_file(tmp_path, {"preview": {"enabled": True, "folder": "locked/preview"}})
    try:
        result = dropcast("--config", str(config), "check", "--connect")
    finally:
        locked.chmod(stat.S_IRWXU)
    assert result.returncode == 1
    assert f"preview: FAILED: PermissionError: cannot write to {locked}" in result.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max_attempts: five\n", "line 1: max_attempts: 'five' is not a whole number"),
        (
            "max_attempt: 3\n",
            "line 1: max_attempt: unknown key 'max_attempt' (did you mean 'max_attempts'?)",
        ),
        ("poll: ${POLL_MODE}\n", "line 1: poll: environment variable POLL_MODE is not set"),
        (
            "inbox: x\nplatforms: [preview\n",
            "line 2: not valid YAML: the [ opened here (column 12) is never closed "
            "(the file ends inside it)",
        ),
    ],
    ids=["value", "typo", "variable", "bracket"],
)
def test_check_prints_problems_in_plain_words(tmp_path: Path, text: str, expected: str) -> None:
    """`check` exits 1 with each problem on one line of stderr, as the daemon logs it."""
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    result = dropcast("--config", str(config), "check")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"dropcast: {config}, {expected}\n"
