"""The deliveries.json an earlier dropcast kept is handed to the ledger once, post by post."""

from __future__ import annotations

import json
from pathlib import Path

from structlog.testing import capture_logs

from daemon.progress import Destination, DestinationState
from daemon.publishers.telegram.legacy import LegacyDeliveries

SENT = DestinationState.SENT


def test_a_post_is_taken_once_as_each_chats_parts(tmp_path: Path) -> None:
    """`steps_done: 2` is the image and one reply, read until forgotten, then gone."""
    path = tmp_path / "deliveries.json"
    entry = {"@a": {"message_id": 7, "steps_done": 2, "url": None}}
    path.write_text(json.dumps({"k1": entry, "k2": entry}))
    legacy = LegacyDeliveries(path)
    parts = [Destination("@a#0", SENT, "7", None), Destination("@a#1", SENT)]
    assert legacy.peek("k1") == parts
    assert legacy.peek("k1") == parts  # kept until the ledger has it
    legacy.forget("k1")
    assert legacy.peek("k1") == []
    assert list(json.loads(path.read_text())) == ["k2"]


def test_the_file_goes_with_its_last_entry(tmp_path: Path) -> None:
    """Once every post moved to the ledger there is no file left to read at each post."""
    path = tmp_path / "deliveries.json"
    path.write_text(json.dumps({"k": {"@a": {"message_id": 1, "steps_done": 1}}}))
    LegacyDeliveries(path).forget("k")
    assert not path.exists()


def test_an_unreadable_file_is_logged_and_changes_nothing(tmp_path: Path) -> None:
    """A damaged file costs the migration, never the post."""
    path = tmp_path / "deliveries.json"
    path.write_text("{not json")
    with capture_logs() as logs:
        assert LegacyDeliveries(path).peek("k") == []
    assert [entry["event"] for entry in logs] == ["deliveries.unreadable"]
    assert path.read_text() == "{not json"


def test_an_entry_this_version_does_not_understand_starts_that_chat_over(tmp_path: Path) -> None:
    """A chat whose progress cannot be read is left out: it is sent the post again."""
    path = tmp_path / "deliveries.json"
    path.write_text(json.dumps({"k": {"@a": {"id": 1}, "@b": {"message_id": 3, "steps_done": 1}}}))
    assert LegacyDeliveries(path).peek("k") == [Destination("@b#0", SENT, "3", None)]
