"""The Telegram delivery log: what each chat got, kept in memory but never staler than its file."""

from __future__ import annotations

import json
from pathlib import Path

from daemon.publishers._telegram_deliveries import DeliveryLog, Progress


async def test_progress_saved_by_one_log_is_seen_by_another_on_the_same_file(
    tmp_path: Path,
) -> None:
    """After a reload two publishers may share the file: each sees what the other wrote."""
    path = tmp_path / "deliveries.json"
    first, second = DeliveryLog(path), DeliveryLog(path)
    assert await first.progress("post", "@chat") is None  # `first` now holds the file in memory
    await second.save("post", "@chat", Progress(message_id=7, steps_done=1))
    assert await first.progress("post", "@chat") == Progress(message_id=7, steps_done=1)
    await first.forget("post")
    assert await second.progress("post", "@chat") is None


async def test_a_file_edited_by_hand_is_read_again(tmp_path: Path) -> None:
    """Removing a post's entry by hand (to send it again) takes effect on the next look."""
    path = tmp_path / "deliveries.json"
    log = DeliveryLog(path)
    await log.save("post", "@chat", Progress(message_id=7, steps_done=1))
    path.write_text(json.dumps({}), encoding="utf-8")
    assert await log.progress("post", "@chat") is None


async def test_a_damaged_file_counts_as_empty_and_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "deliveries.json"
    path.write_text("{not json", encoding="utf-8")
    log = DeliveryLog(path)
    assert await log.progress("post", "@chat") is None
    await log.save("post", "@chat", Progress(message_id=3, steps_done=1))
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved == {"post": {"@chat": {"message_id": 3, "steps_done": 1, "url": None}}}
