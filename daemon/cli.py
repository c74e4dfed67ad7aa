"""The `dropcast` command: `run`, `check`, `status`, `retry`, `health`.

Exit codes: 0 ok, 1 failure, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
import structlog

from daemon import __version__
from daemon.config import ApplicationConfig, ConfigError, load_config
from daemon.config_folders import folders_only
from daemon.health import check_heartbeat
from daemon.ledger import (
    Ledger,
    LedgerError,
    ledger_path,
)
from daemon.lock import InboxLockedError
from daemon.logging import configure_logging
from daemon.publisher import PublisherContext
from daemon.registry import Registry, RegistryError
from daemon.resend import RetryRefusedError, retry_archived
from daemon.secrets import REDACTOR
from daemon.status import describe, describe_waiting, needs_attention, render_table
from daemon.waiting import scan_waiting

EXIT_OK, EXIT_FAILURE = 0, 1
# What needs only the state folder, and so works on while config.yaml has a mistake.
_STATE_ONLY = ("status", "retry", "health")


# Each command's help (in the list) and description (in its own --help).
_COMMANDS = {
    "run": ("run the daemon", "Watch the inbox and publish."),
    "check": (
        "validate the config",
        "Validate the config; exit 1 with the problems if it is not valid.",
    ),
    "status": (
        "recent posts and each platform's outcome",
        "Show the last posts dropcast handled, newest first, and each platform's state.",
    ),
    "retry": (
        "re-publish archived posts to the platforms that did not accept them",
        "Send archived partial posts (and deliveries whose outcome is unknown) "
        "to the platforms that did not accept them; the result record is updated in place.",
    ),
    "health": (
        "is the running daemon alive? (for container health checks)",
        "Exit 0 if the running daemon's heartbeat is fresh (a config with a mistake is "
        "named too: the daemon runs on its last good one); otherwise exit 1 with a "
        "one-line reason.",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="dropcast",
        description="Publish photos dropped into a folder to every enabled platform.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"dropcast {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    added = {
        name: commands.add_parser(name, parents=[common], help=short, description=long)
        for name, (short, long) in _COMMANDS.items()
    }
    _check_options(added["check"])
    _status_options(added["status"])
    _retry_options(added["retry"])
    return parser


def _common_options() -> argparse.ArgumentParser:
    """The options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="the config file (default: $DROPCAST_CONFIG, else ./config.yaml)",
    )
    return common


def _check_options(check: argparse.ArgumentParser) -> None:
    check.add_argument(
        "--connect", action="store_true", help="also log in to each enabled platform"
    )


def _status_options(status: argparse.ArgumentParser) -> None:
    status.add_argument("--json", action="store_true", help="print JSON, for scripts")
    status.add_argument("--failed", action="store_true", help="only posts that need attention")
    status.add_argument("--limit", type=int, default=20, help="how many posts (default 20)")


def _retry_options(retry: argparse.ArgumentParser) -> None:
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("stem", nargs="?", help="the post's name (as dropped, or as archived)")
    which.add_argument("--all", action="store_true", help="every post that needs it")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    default_config = Path(os.environ.get("DROPCAST_CONFIG") or "config.yaml")
    config_path: Path = getattr(arguments, "config", default_config)
    try:
        registry = Registry.discover()
        config, broken = _load(config_path, registry, arguments.command)
        REDACTOR.replace_secrets(config.secrets)  # for every command, not only the daemon
    except (ConfigError, RegistryError) as error:
        print(f"dropcast: {error}", file=sys.stderr)
        return EXIT_FAILURE
    if arguments.command == "health":
        return _health(config, broken)
    if broken is not None:
        print(f"dropcast: warning: {_first_problem(broken)}; {_going_on(config)}", file=sys.stderr)
    # The daemon logs to stdout (journald, docker logs); a command's own output owns stdout.
    log_stream = sys.stdout if arguments.command == "run" else sys.stderr
    configure_logging(config.core.log.level, config.core.log.format, log_stream)
    if arguments.command == "check":
        return _check(config, registry, connect=arguments.connect)
    if arguments.command == "status":
        return _guarded(
            lambda: _status(
                config, as_json=arguments.json, failed=arguments.failed, limit=arguments.limit
            )
        )
    if arguments.command == "retry":
        return _guarded(lambda: _retry(config, registry, arguments.stem, broken is None))
    return _guarded(lambda: _run(config_path, registry))


def _load(
    config_path: Path, registry: Registry, command: str
) -> tuple[ApplicationConfig, ConfigError | None]:
    """The config; for a command that needs only the state folder, its folders if it is broken."""
    try:
        return load_config(config_path, registry), None
    except ConfigError as error:
        if command not in _STATE_ONLY:
            raise
        return folders_only(config_path), error


def _first_problem(error: ConfigError) -> str:
    """The config's first problem, and how many more `dropcast check` would show."""
    lines = str(error).splitlines()
    more = f" (and {len(lines) - 1} more: dropcast check lists them)" if len(lines) > 1 else ""
    return f"the config is not valid: {lines[0]}{more}"


def _going_on(config: ApplicationConfig) -> str:
    return f"going on with the state folder {config.core.state}"


def _guarded(command: Callable[[], int]) -> int:
    """Run `command`; the errors a person can fix are one line on stderr and exit 1."""
    try:
        return command()
    except (ConfigError, InboxLockedError, LedgerError) as error:
        print(f"dropcast: {error}", file=sys.stderr)
        return EXIT_FAILURE


def _run(config_path: Path, registry: Registry) -> int:
    from daemon.allocator import limit_arenas
    from daemon.service import Daemon

    limit_arenas()  # before any thread starts
    daemon = Daemon(config_path, registry)  # reads the config again: it may have changed
    anyio.run(daemon.run)
    return EXIT_OK


def _status(config: ApplicationConfig, *, as_json: bool, failed: bool, limit: int) -> int:
    # Files waiting in the inbox first (they need the owner now), then the ledger's posts.
    core = config.core
    waiting = [
        describe_waiting(f) for f in scan_waiting(core.inbox, core.orphan_warning_seconds).waiting
    ]
    path = ledger_path(core.state)
    posts = []
    if path.exists():
        ledger = Ledger(path)
        try:
            rows = ledger.recent(limit if not failed else 10_000)
            posts = [(row, ledger.deliveries(row.id)) for row in rows]
        finally:
            ledger.close()
    if failed:
        posts = [(row, found) for row, found in posts if needs_attention(row, found)][:limit]
    described = waiting + [describe(row, found) for row, found in posts]
    if as_json:
        print(json.dumps(described, indent=2, ensure_ascii=False))
    elif not described and not path.exists():
        print(f"no posts yet (no ledger at {path})")
    else:
        print(render_table(described))
    return EXIT_OK


def _retry(config: ApplicationConfig, registry: Registry, stem: str | None, loaded: bool) -> int:
    try:
        complete = anyio.run(retry_archived, config, registry, stem, print, loaded)
    except RetryRefusedError as error:  # nothing was retried
        print(f"dropcast: {error}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK if complete else EXIT_FAILURE


def _health(config: ApplicationConfig, broken: ConfigError | None) -> int:
    """The daemon's health from its heartbeat; a broken config is said, not held against it."""
    problem = check_heartbeat(config.core.state)
    note = "" if broken is None else _first_problem(broken)
    if problem is not None:
        print(f"unhealthy: {problem}{f'; {note}' if note else ''}")
        return EXIT_FAILURE
    print(f"healthy ({note}; the daemon runs on its last good config)" if note else "healthy")
    return EXIT_OK


def _check(config: ApplicationConfig, registry: Registry, *, connect: bool) -> int:
    enabled = config.enabled_platforms
    print(f"{config.path}: valid; enabled platforms: {', '.join(enabled) or 'none'}")
    if not connect:
        return EXIT_OK
    return anyio.run(_connect_all, config, registry)


async def _connect_all(config: ApplicationConfig, registry: Registry) -> int:
    log = structlog.get_logger("dropcast.check")
    failures = 0
    context = PublisherContext(state_dir=config.core.state)
    for name in config.enabled_platforms:
        publisher = registry[name](config.platforms[name], context)
        try:
            found = await publisher.check_connection()
        except Exception as error:  # report every platform, whatever one of them raises
            failures += 1
            # The printed line is the report; the event only for `log.level: debug`.
            log.debug(
                "platform.check_failed", platform=name, error=f"{type(error).__name__}: {error}"
            )
            print(f"{name}: FAILED: {type(error).__name__}: {error}")
        else:
            log.debug("platform.checked", platform=name, found=found)
            print(f"{name}: ok: {found}")
        finally:
            await publisher.close()
    return EXIT_FAILURE if failures else EXIT_OK
