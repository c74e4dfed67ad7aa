"""structlog set-up: JSON lines for journald and `docker logs`, readable lines on a terminal.

Every event passes through `redact_secrets`, so a secret value that slips into an
event (say, inside an exception's text) is replaced before it is written. Python warnings
(Pillow's DecompressionBombWarning, a library's `warnings.warn`) become `python.warning`
events too, naming the post and file being worked on where the stack shows them.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import MutableMapping
from pathlib import Path
from types import FrameType
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


def log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """`warnings.showwarning` for the daemon: the warning as a structured, redacted event."""
    found = _work_in_hand(sys._getframe(1))
    structlog.get_logger("dropcast.warnings").warning(
        "python.warning",
        category=category.__name__,
        message=str(message),
        source=f"{filename}:{lineno}",
        **found,
    )


# Local names in dropcast's own frames that say what is being worked on: a post, or a file.
_FILE_NAMES = ("image_path", "image", "path")


def _work_in_hand(frame: FrameType | None) -> dict[str, str]:
    """The post (`post=` its stem) and file (`file=`) the innermost dropcast frames work on.

    A warning carries only the library's own line, so the calling frames are asked: a
    local `post` (a Post) or `stem`, and a local Path named as in `_FILE_NAMES`.
    """
    found: dict[str, str] = {}
    while frame is not None and len(found) < 2:
        if str(frame.f_globals.get("__name__", "")).startswith("daemon."):
            _note(frame.f_locals, found)
        frame = frame.f_back
    return found


def _note(names: dict[str, Any], found: dict[str, str]) -> None:
    post = names.get("post")
    # By name, not isinstance: importing daemon.post here would load Pillow with logging.
    stem = getattr(post, "stem", None) if type(post).__name__ == "Post" else names.get("stem")
    if isinstance(stem, str):
        found.setdefault("post", stem)
    paths = [names[n] for n in _FILE_NAMES if isinstance(names.get(n), Path)]
    if paths:
        found.setdefault("file", str(paths[0]))


def configure_logging(
    level: str = "info", log_format: LogFormat = "auto", stream: TextIO | None = None
) -> None:
    """Send structured events to `stream` (stdout) at `level`, as JSON unless it is a terminal.

    Python warnings go the same way, instead of to stderr unstructured.
    """
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
    # Set here, by the daemon's set-up, and nowhere else: importing this module changes nothing.
    warnings.showwarning = log_warning
