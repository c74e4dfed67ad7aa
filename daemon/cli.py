"""The `dropcast` command: `run`, `check`, `health`. Exit codes: 0 ok, 1 failure, 2 usage."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio
import structlog

from daemon import __version__
from daemon.config import ApplicationConfig, ConfigError, load_config
from daemon.health import check_heartbeat
from daemon.logging import configure_logging
from daemon.publishers.base import PublisherContext, Registry, RegistryError

EXIT_OK, EXIT_FAILURE = 0, 1


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="the config file (default: $DROPCAST_CONFIG, else ./config.yaml)",
    )
    parser = argparse.ArgumentParser(
        prog="dropcast",
        description="Publish photos dropped into a folder to every enabled platform.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"dropcast {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "run", parents=[common], help="run the daemon", description="Watch the inbox and publish."
    )
    check = commands.add_parser(
        "check",
        parents=[common],
        help="validate the config",
        description="Validate the config; exit 1 with the problems if it is not valid.",
    )
    check.add_argument(
        "--connect", action="store_true", help="also log in to each enabled platform"
    )
    commands.add_parser(
        "health",
        parents=[common],
        help="is the running daemon alive? (for container health checks)",
        description="Exit 0 if the config is valid and the running daemon's heartbeat is "
        "fresh; otherwise exit 1 with a one-line reason.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    default_config = Path(os.environ.get("DROPCAST_CONFIG") or "config.yaml")
    config_path: Path = getattr(arguments, "config", default_config)
    try:
        registry = Registry.discover()
        config = load_config(config_path, registry)
    except (ConfigError, RegistryError) as error:
        if arguments.command == "health":
            print(f"unhealthy: the config is not valid: {error}".splitlines()[0])
        print(f"dropcast: {error}", file=sys.stderr)
        return EXIT_FAILURE
    if arguments.command == "health":
        return _health(config)
    configure_logging(config.core.log.level, config.core.log.format)
    if arguments.command == "check":
        return _check(config, registry, connect=arguments.connect)
    return _run(config_path, registry)


def _run(config_path: Path, registry: Registry) -> int:
    from daemon.service import Daemon

    try:
        daemon = Daemon(config_path, registry)
    except ConfigError as error:  # the file changed since it was checked above
        print(f"dropcast: {error}", file=sys.stderr)
        return EXIT_FAILURE
    anyio.run(daemon.run)
    return EXIT_OK


def _health(config: ApplicationConfig) -> int:
    problem = check_heartbeat(config.core.state)
    if problem is not None:
        print(f"unhealthy: {problem}")
        return EXIT_FAILURE
    print("healthy")
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
            log.error(
                "platform.check_failed", platform=name, error=f"{type(error).__name__}: {error}"
            )
            print(f"{name}: FAILED: {type(error).__name__}: {error}")
        else:
            log.info("platform.checked", platform=name, found=found)
            print(f"{name}: ok: {found}")
        finally:
            await publisher.close()
    return EXIT_FAILURE if failures else EXIT_OK
