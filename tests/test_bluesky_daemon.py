"""The bluesky platform end to end: the real daemon and watcher, the reference PDS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from atproto_client import AsyncClient
from structlog.testing import capture_logs

from daemon.registry import Registry
from tests.conftest import archived, running_daemon, wait_for, write_config, write_post
from tests.fakes.pds import PdsServer, pds
from tests.test_bluesky import read_post

__all__ = ["pds"]


async def test_a_dropped_post_arrives_on_the_pds_and_the_record_says_where(
    pds: PdsServer, tmp_path: Path
) -> None:
    """A post dropped into the inbox is on the PDS with its caption; the result record holds
    its at:// URI and app link, and neither it nor the logs hold the app password or tokens."""
    section = {
        "enabled": True,
        "handle": pds.alice.handle,
        "app_password": "${BLUESKY_APP_PASSWORD}",
        "service": pds.url,
    }
    config = write_config(tmp_path, {"bluesky": section}, publish_timeout=50)
    caption = "Été au lac 🌅 #sunset"
    with capture_logs() as logs:
        environ = {"BLUESKY_APP_PASSWORD": pds.alice.app_password}
        async with running_daemon(config, Registry.discover(), environ=environ):
            write_post(tmp_path / "inbox", "lac", caption)
            await wait_for(lambda: len(archived(tmp_path)) == 3, 60, what="the archive")
    record_file = next(p for p in archived(tmp_path) if p.name.endswith(".result.json"))
    record = json.loads(record_file.read_text(encoding="utf-8"))
    bluesky = record["platforms"]["bluesky"]
    assert record["outcome"] == "published", bluesky
    assert bluesky["id"].startswith(f"at://{pds.alice.did}/app.bsky.feed.post/")
    assert bluesky["url"].startswith("https://bsky.app/profile/alice.test/post/")
    reader = AsyncClient(pds.url)
    try:
        assert (await read_post(reader, bluesky["id"])).text == caption
    finally:
        await reader.request.close()
    session = (tmp_path / "state" / "bluesky" / "session-alice.test").read_text()
    tokens = session.split(":::")[2:4]
    written = record_file.read_text(encoding="utf-8") + repr(logs)
    for secret in [pds.alice.app_password, *tokens]:
        assert secret not in written


def test_a_disabled_bluesky_never_imports_the_sdk(tmp_path: Path) -> None:
    """Loading a config with the platform disabled imports neither its package nor atproto,
    and the package itself imports no atproto module until it posts."""
    config = write_config(tmp_path, {"bluesky": {"enabled": False}, "preview": {"enabled": True}})
    code = (
        "import sys; from pathlib import Path; from daemon.config import load_config; "
        "from daemon.registry import Registry; "
        f"load_config(Path({str(config)!r}), Registry.discover()); "
        "assert 'daemon.publishers.bluesky' not in sys.modules; "
        "import daemon.publishers.bluesky; "
        "print(sorted(m for m in sys.modules if m.startswith('atproto')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == "[]"
