"""`dropcast status`, `retry` and `health` while config.yaml has a mistake: they need only the
state folder, so they go on with a warning; and `retry` tells a name it cannot retry apart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.health import write_heartbeat
from tests.test_crash import Dropcast, drop, killed_after, run_command, wait_until
from tests.test_reload import replace_config

BROKEN_YAML = "settle_seconds: 0.2\nplatforms: [gate,\n"  # the [ on line 2 is never closed


@pytest.fixture(scope="module")
def handled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dropcast]:
    """A folder where the daemon handled a partial post (`half`) and one it failed (`broken`)."""
    for runner in killed_after(tmp_path_factory.mktemp("handled")):
        handle_two_posts(runner)
        yield runner


def handle_two_posts(runner: Dropcast) -> None:
    runner.configure(gate_quick={}, gate={"fail": True})
    runner.start()
    drop(runner.inbox, "half")
    (runner.inbox / "broken.jpg").write_text("not an image", encoding="utf-8")
    (runner.inbox / "broken.txt").write_text("caption", encoding="utf-8")
    wait_until(lambda: (runner.folder / "failed" / "broken.result.json").exists(), "failed")
    wait_until(lambda: list(runner.folder.glob("archive/*/half.result.json")), "archived")
    runner.stop()


def break_config(runner: Dropcast) -> Path:
    config = runner.folder / "config.yaml"
    config.write_text(BROKEN_YAML, encoding="utf-8")
    return config


def warning(runner: Dropcast, config: Path) -> str:
    return (
        f"dropcast: warning: the config is not valid: {config}, line 2: not valid YAML: "
        "the [ opened here (column 12) is never closed (the file ends inside it); "
        f"going on with the state folder {runner.folder / 'state'}\n"
    )


class TestStatusWhileBroken:
    """`status` reads the ledger with a one-line warning about the config."""

    def test_status_lists_the_posts_and_warns_once(self, handled: Dropcast) -> None:
        """Both posts are listed, exit 0, and stderr is the one warning naming the problem."""
        config = break_config(handled)
        result = run_command(handled, "status")
        assert (result.returncode, result.stderr) == (0, warning(handled, config))
        assert "half" in result.stdout
        assert "broken" in result.stdout

    @pytest.mark.parametrize(
        "mistake",
        ["platforms: [unclosed\n", "max_attempts: five\n", "platforms:\n  myspace: {}\n"],
        ids=["syntax", "value", "platform"],
    )
    def test_the_folders_are_those_the_config_names(self, tmp_path: Path, mistake: str) -> None:
        """A relative `state:` in a broken config is read, and resolved against its folder."""
        config = tmp_path / "conf" / "config.yaml"
        config.parent.mkdir()
        config.write_text(f"inbox: drop\nstate: 'var/db'  # here\n{mistake}", encoding="utf-8")
        runner = Dropcast(tmp_path)
        result = run_command(runner, "--config", str(config), "status")
        state = tmp_path / "conf" / "var" / "db"
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"no posts yet (no ledger at {state / 'dropcast.db'})\n"
        assert result.stderr.endswith(f"; going on with the state folder {state}\n")
        assert not state.exists()  # nothing is made where a guess points


class TestRetryNames:
    """`retry NAME` says why a name is not retried, and exits 1 when nothing was."""

    def test_an_unknown_name_is_named(self, handled: Dropcast) -> None:
        """A name the ledger never saw is said so, not "nothing to retry"."""
        handled.configure(gate_quick={}, gate={"fail": True})
        result = run_command(handled, "retry", "nosuchpost")
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == "dropcast: no post named nosuchpost in the ledger\n"

    def test_a_failed_post_is_told_how_to_come_back(self, handled: Dropcast) -> None:
        """A post in failed/ is not retried by name: the way back is the inbox."""
        handled.configure(gate_quick={}, gate={"fail": True})
        result = run_command(handled, "retry", "broken")
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == (
            "dropcast: broken is in failed/: fix it (see failed/broken.result.json) "
            "and move it back into inbox/; dropcast publishes it then\n"
        )

    def test_a_name_is_told_apart_while_the_config_is_broken(self, handled: Dropcast) -> None:
        """Telling an unknown name needs only the ledger."""
        config = break_config(handled)
        result = run_command(handled, "retry", "nosuchpost")
        assert result.returncode == 1
        assert result.stderr == (
            warning(handled, config) + "dropcast: no post named nosuchpost in the ledger\n"
        )

    def test_nothing_is_sent_while_the_config_is_broken(self, handled: Dropcast) -> None:
        """A post that needs a retry is refused, naming the config: its platforms' settings are in it."""
        config = break_config(handled)
        result = run_command(handled, "retry", "half")
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == warning(handled, config) + (
            "dropcast: half: not retried: config.yaml is not valid, and the platforms' "
            "settings are in it; fix it (dropcast check shows what is wrong), then retry again\n"
        )
        assert handled.received("gate") == ["half"]


class TestHealthWhileBroken:
    """`health` is the daemon's health; a broken config is named, not held against it."""

    def test_a_fresh_heartbeat_is_healthy_and_the_config_named(self, tmp_path: Path) -> None:
        """Exit 0, one line that says the daemon runs on its last good config."""
        config = tmp_path / "config.yaml"
        config.write_text("settle_seconds: never\n", encoding="utf-8")
        (tmp_path / "state").mkdir()
        write_heartbeat(tmp_path / "state", "watching")
        result = run_command(Dropcast(tmp_path), "health")
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout == (
            f"healthy (the config is not valid: {config}, line 1: settle_seconds: "
            "'never' is not a number; the daemon runs on its last good config)\n"
        )

    def test_no_heartbeat_is_unhealthy_and_the_config_named(self, tmp_path: Path) -> None:
        """Exit 1 for the heartbeat; the config's problem is on the same line."""
        config = tmp_path / "config.yaml"
        config.write_text("settle_seconds: never\n", encoding="utf-8")
        result = run_command(Dropcast(tmp_path), "health")
        assert result.returncode == 1
        assert result.stdout.startswith(f"unhealthy: no heartbeat at {tmp_path / 'state'}")
        assert result.stdout.endswith(
            f"; the config is not valid: {config}, line 1: settle_seconds: 'never' is not a number\n"
        )


def test_a_running_daemon_with_a_broken_edit_is_healthy_and_has_a_status(tmp_path: Path) -> None:
    """As seen: the daemon runs on the last good config; health and status say so, exit 0."""
    for runner in killed_after(tmp_path):
        runner.configure(gate={})
        runner.start()
        config = runner.folder / "config.yaml"
        replace_config(config, BROKEN_YAML)
        runner.wait_for_event("config.invalid")
        health = run_command(runner, "health")
        status = run_command(runner, "status")
        runner.stop()
        assert health.returncode == 0, health.stdout
        assert health.stdout.startswith("healthy (the config is not valid: ")
        assert health.stdout.endswith("; the daemon runs on its last good config)\n")
        assert (status.returncode, status.stderr) == (0, warning(runner, config))


def test_the_warning_counts_the_other_problems(tmp_path: Path) -> None:
    """One line, however many problems: the first, and how many more `check` shows."""
    config = tmp_path / "config.yaml"
    config.write_text("max_attempts: five\npoll: sometimes\ncolour: red\n", encoding="utf-8")
    result = run_command(Dropcast(tmp_path), "status")
    assert result.returncode == 0
    assert result.stderr == (
        f"dropcast: warning: the config is not valid: {config}, line 1: max_attempts: "
        "'five' is not a whole number (and 2 more: dropcast check lists them); "
        f"going on with the state folder {tmp_path / 'state'}\n"
    )
