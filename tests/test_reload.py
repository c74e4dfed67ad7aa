"""Hot reload: config edits apply to the next post; a bad or missing config never stops the daemon."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from structlog.testing import capture_logs

from daemon.registry import Registry
from tests.conftest import archived, inbox_files, running_daemon, wait_for, write_config, write_post
from tests.fakes.publishers import RECEIVED
from tests.test_crash import Dropcast, killed_after, wait_until


def events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


def replace_config(path: Path, text: str) -> None:
    """Replace the config the way editors do: write a new file, rename it over the old one.

    The rename comes a clock tick after the write, so that it shows as one (ctime past
    mtime); a rename within the write's tick looks like a write, and the daemon lets it settle.
    """
    temporary = path.with_name(".config.yaml.swp")
    temporary.write_text(text, encoding="utf-8")
    written = temporary.stat().st_mtime_ns
    while time.time_ns() < written + 50_000_000:  # file times lag the clock by up to a tick
        time.sleep(0.01)
    os.replace(temporary, path)


async def test_enabling_a_platform_applies_to_the_next_post(
    tmp_path: Path, registry: Registry
) -> None:
    """A platform enabled while running gets the next post, and the change is logged by key."""
    config = write_config(tmp_path, {"recording": {"enabled": True, "label": "first"}})
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            write_post(tmp_path / "inbox", "one")
            await wait_for(lambda: len(archived(tmp_path)) == 3, what="the first post")
            settings = yaml.safe_load(config.read_text(encoding="utf-8"))
            settings["platforms"]["recording2"] = {
                "enabled": True,
                "label": "second",
                "token": "hush-hush-42",
            }
            replace_config(config, yaml.safe_dump(settings))
            await wait_for(lambda: events(logs, "config.reloaded"), what="the reload")
            write_post(tmp_path / "inbox", "two")
            await wait_for(lambda: len(archived(tmp_path)) == 6, what="the second post")
    assert [p.stem for p in RECEIVED["first"]] == ["one", "two"]
    assert [p.stem for p in RECEIVED["second"]] == ["two"]
    assert events(logs, "config.reloaded")[0]["changed"] == ["platforms.recording2 added"]
    assert "hush-hush-42" not in repr(logs)


async def test_invalid_yaml_keeps_the_last_good_config_until_it_is_fixed(
    tmp_path: Path, registry: Registry
) -> None:
    """A broken edit is logged with file and line; posts still publish with the old config; the fix applies."""
    config = write_config(tmp_path, {"recording": {"enabled": True, "label": "old"}})
    good_text = config.read_text(encoding="utf-8")
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            replace_config(config, "inbox: inbox\nplatforms: [unclosed\n")
            await wait_for(lambda: events(logs, "config.invalid"), what="the error")
            write_post(tmp_path / "inbox", "during")
            await wait_for(lambda: len(archived(tmp_path)) == 3, what="a post under the old config")
            replace_config(config, good_text.replace("label: old", "label: new"))
            await wait_for(lambda: events(logs, "config.reloaded"), what="the fixed config")
            write_post(tmp_path / "inbox", "after")
            await wait_for(lambda: len(archived(tmp_path)) == 6, what="a post under the new config")
    error = str(events(logs, "config.invalid")[0]["error"])
    assert f"{config}, line 2: not valid YAML: the [ opened here" in error
    assert [p.stem for p in RECEIVED["old"]] == ["during"]
    assert [p.stem for p in RECEIVED["new"]] == ["after"]


async def test_an_invalid_setting_names_the_key_and_keeps_the_old_config(
    tmp_path: Path, registry: Registry
) -> None:
    """A value of the wrong type is reported with its dotted key path; the daemon keeps running."""
    config = write_config(tmp_path)
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            replace_config(
                config,
                config.read_text(encoding="utf-8").replace(
                    "settle_seconds: 0.3", "settle_seconds: soon"
                ),
            )
            await wait_for(lambda: events(logs, "config.invalid"), what="the error")
            write_post(tmp_path / "inbox", "still-works")
            await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    assert "settle_seconds: 'soon' is not a number" in str(
        events(logs, "config.invalid")[0]["error"]
    )


async def test_a_fixed_config_is_logged_as_valid_again(tmp_path: Path, registry: Registry) -> None:
    """After an invalid edit, the next valid config says `config.valid_again`; a plain reload does not."""
    config = write_config(tmp_path, {"recording": {"enabled": True, "label": "old"}})
    good_text = config.read_text(encoding="utf-8")
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            replace_config(config, good_text.replace("label: old", "label: first"))
            await wait_for(lambda: events(logs, "config.reloaded"), what="a plain reload")
            replace_config(config, good_text.replace("label: old", "label: [unclosed"))
            await wait_for(lambda: events(logs, "config.invalid"), what="the error")
            replace_config(config, good_text.replace("label: old", "label: fixed"))
            await wait_for(lambda: len(events(logs, "config.reloaded")) == 2, what="the fix")
    names = [entry["event"] for entry in logs if str(entry["event"]).startswith("config.")]
    assert [name for name in names if name != "config.settling"] == [
        "config.reloaded",
        "config.invalid",
        "config.reloaded",
        "config.valid_again",
    ]
    assert events(logs, "config.valid_again")[0]["path"] == str(config)


async def test_a_deleted_config_is_reported_and_the_daemon_carries_on(
    tmp_path: Path, registry: Registry
) -> None:
    """Deleting config.yaml while running logs an error; posts are still published with the last good config."""
    config = write_config(tmp_path)
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            config.unlink()
            await wait_for(lambda: events(logs, "config.missing"), what="the error")
            write_post(tmp_path / "inbox", "orphan")
            await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    assert [p.stem for p in RECEIVED["recording"]] == ["orphan"]


async def test_an_unchanged_config_is_not_parsed_again(tmp_path: Path, registry: Registry) -> None:
    """Events that leave config.yaml alone cause no reload."""
    config = write_config(tmp_path)
    with capture_logs() as logs:
        async with running_daemon(config, registry) as daemon:
            before = daemon.reloader.current
            write_post(tmp_path / "inbox", "plain")
            await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
            assert daemon.reloader.current is before
    assert events(logs, "config.reloaded") == []


async def test_reload_on_request_rereads_secrets_from_files(
    tmp_path: Path, registry: Registry
) -> None:
    """`reload()` (what SIGHUP does) re-reads the config even when the file itself did not change."""
    (tmp_path / "label.txt").write_text("before\n", encoding="utf-8")
    config = write_config(tmp_path, {"recording": {"enabled": True, "label": "${file:label.txt}"}})
    async with running_daemon(config, registry) as daemon:
        (tmp_path / "label.txt").write_text("after\n", encoding="utf-8")
        await daemon.reload()
        write_post(tmp_path / "inbox", "fresh")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    assert [p.stem for p in RECEIVED["after"]] == ["fresh"]


async def test_stopping_lets_a_post_in_flight_finish(tmp_path: Path, registry: Registry) -> None:
    """A post being published when the daemon stops is finished and archived within the grace period."""
    config = write_config(tmp_path, {"recording": {"enabled": True, "delay": 1.0}})
    async with running_daemon(config, registry) as daemon:
        write_post(tmp_path / "inbox", "inflight")
        await wait_for(lambda: RECEIVED["recording"], what="publishing to start")
        daemon.stop()
    assert [p.name for p in archived(tmp_path)] == [
        "inflight.jpg",
        "inflight.result.json",
        "inflight.txt",
    ]


async def test_a_post_still_hanging_after_the_grace_period_stays_in_the_inbox(
    tmp_path: Path, registry: Registry
) -> None:
    """When the grace period ends, an unfinished post is abandoned, its files left in the inbox."""
    config = write_config(
        tmp_path, {"recording": {"enabled": True, "behaviour": "hang"}}, shutdown_grace_seconds=0.5
    )
    with anyio.fail_after(10):
        async with running_daemon(config, registry) as daemon:
            write_post(tmp_path / "inbox", "stuck")
            await wait_for(lambda: RECEIVED["recording"], what="publishing to start")
            daemon.stop()
    assert inbox_files(tmp_path) == ["stuck.jpg", "stuck.txt"]
    assert archived(tmp_path) == []


async def test_a_new_state_folder_waits_for_a_restart(tmp_path: Path, registry: Registry) -> None:
    """Changing `state` while running is logged as needing a restart; the old folder stays in use."""
    config = write_config(tmp_path)
    with capture_logs() as logs:
        async with running_daemon(config, registry) as daemon:
            text = config.read_text(encoding="utf-8").replace("state: state", "state: elsewhere")
            replace_config(config, text)
            await wait_for(lambda: events(logs, "config.restart_required"), what="the warning")
            assert daemon.config.core.state == tmp_path / "state"
            async with daemon.platforms.lease() as lease:
                assert lease.publishers["recording"].context.state_dir == tmp_path / "state"
    assert events(logs, "config.restart_required")[0]["keys"] == ["state"]


@pytest.fixture
def dropcast(tmp_path: Path) -> Iterator[Dropcast]:
    yield from killed_after(tmp_path)


def test_sigterm_during_a_sighup_reload_stops_the_daemon_promptly(dropcast: Dropcast) -> None:
    """SIGTERM while a SIGHUP's reload waits for a config being written stops dropcast at once."""
    config = dropcast.configure(gate_quick={})
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["settle_seconds"] = 25  # the reload waits this long for the file to be still
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    dropcast.start()
    process = dropcast.process
    assert process is not None
    with config.open("a", encoding="utf-8") as writer:  # in place, left open: being written
        writer.write("# a first chunk\n")
        writer.flush()
        dropcast.wait_for_event("config.settling")
        process.send_signal(signal.SIGHUP)
        dropcast.wait_for_event("config.reload_requested")
        process.send_signal(signal.SIGTERM)
        # Generous, and still well short of the 25 s the old code kept SIGTERM waiting.
        wait_until(lambda: process.poll() is not None, "dropcast to stop", within=12)
    assert process.returncode == 0
    assert [e["event"] for e in dropcast.events()][-1] == "daemon.stopped"
