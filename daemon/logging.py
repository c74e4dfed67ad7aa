"""structlog set-up: JSON lines for journald and `docker logs`, readable lines on a terminal.

Every event passes through `redact_secrets`, so a secret value that slips into an
event (say, inside an exception's text) is replaced before it is written.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from daemon.secrets import REDACTOR

LogFormat = Literal["auto", "json", "console"]


def redact_secrets(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """Replace every known secret value in the event's strings (nested ones too)."""
    return {key: _redact(value) for key, value in event.items()}


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return REDACTOR.redact(value)
    if isinstance(value, MutableMapping):
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    return value


def _redacting(renderer: Processor) -> Processor:
    """Redact the rendered line too: a renderer may `repr()` objects that hold a secret."""

    def render(logger: WrappedLogger, method: str, event: EventDict) -> Any:
        rendered = renderer(logger, method, event)
        return REDACTOR.redact(rendered) if isinstance(rendered, str) else rendered

    return render


def configure_logging(
    level: str = "info", log_format: LogFormat = "auto", stream: TextIO | None = None
) -> None:
    """Send structured events to `stream` (stdout) at `level`, as JSON unless it is a terminal."""
    stream = sys.stdout if stream is None else stream
    use_console = log_format == "console" or (log_format == "auto" and stream.isatty())
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Exceptions become text before redaction, so their messages are redacted too.
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: Processor = (
        structlog.dev.ConsoleRenderer()
        if use_console
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    structlog.configure(
        processors=[*processors, _redacting(renderer)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
