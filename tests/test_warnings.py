"""Python warnings (Pillow's, any library's) are log events, not stray lines on stderr."""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from PIL import Image

from daemon.logging import configure_logging
from daemon.secrets import REDACTED, REDACTOR
from tests.test_crash import Dropcast, killed_after, wait_until

SECRET = "warned-s3cret-value"


def corrupt_exif_jpeg(path: Path) -> None:
    """A JPEG whose EXIF block is cut short: Pillow warns 'Tag data larger than file'."""
    exif = Image.Exif()
    exif[0x010E] = "x" * 60  # ImageDescription, stored past the end once the block is cut
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buffer, "JPEG", exif=exif.tobytes()[:-30])
    path.write_bytes(buffer.getvalue())


@pytest.fixture
def dropcast(tmp_path: Path) -> Iterator[Dropcast]:
    yield from killed_after(tmp_path)


def test_a_pillow_warning_is_a_json_event_naming_the_post_and_file(dropcast: Dropcast) -> None:
    """The daemon logs Pillow's warning about a post's image as a JSON event with the post and file, not on stderr."""
    dropcast.configure(preview={})
    dropcast.start()
    image = dropcast.inbox / "cut.jpg"
    corrupt_exif_jpeg(image)
    (dropcast.inbox / "cut.txt").write_text("a cut EXIF block", encoding="utf-8")
    wait_until(lambda: len(dropcast.archived()) == 3, "the archive")
    dropcast.stop()
    lines = dropcast.log.read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if not line.startswith("{")] == []  # stderr is in the log
    warned = [e for e in dropcast.events() if e["event"] == "python.warning"]
    assert warned, "no python.warning event"
    assert warned[0]["category"] == "UserWarning"
    assert str(warned[0]["message"]).startswith("Tag data larger than file")  # Pillow's words
    assert warned[0]["level"] == "warning"
    assert (warned[0]["post"], warned[0]["file"]) == ("cut", str(image))
    assert "PIL" in warned[0]["source"]


def test_a_warning_is_logged_redacted_once_logging_is_set_up(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """After `configure_logging`, `warnings.warn` writes one JSON event, a secret in it redacted."""
    REDACTOR.replace_secrets([SECRET])
    try:
        with warnings.catch_warnings():  # puts pytest's own warning hook back afterwards
            warnings.simplefilter("always")
            configure_logging("info", "json")
            warnings.warn(f"deprecated key, value {SECRET}", UserWarning, stacklevel=1)
    finally:
        structlog.reset_defaults()
        REDACTOR.replace_secrets([])
    out, err = capsys.readouterr()
    event = json.loads(out)
    assert (event["event"], event["category"]) == ("python.warning", "UserWarning")
    assert event["message"] == f"deprecated key, value {REDACTED}"
    assert event["source"] == f"{__file__}:{event['source'].rsplit(':', 1)[1]}"
    assert err == ""
