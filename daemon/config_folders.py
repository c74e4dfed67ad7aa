"""The folders a config names, found even while the config has a mistake.

`dropcast status`, `retry` and `health` need only the state folder (and the inbox and
`failed/` to name where a post is): while config.yaml does not load, they read its
top-level `inbox`, `archive`, `failed` and `state` as well as they can, resolved against
the config's folder as usual, and take the defaults for the rest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from daemon.config import MAX_CONFIG_BYTES, ApplicationConfig, CoreSettings
from daemon.secrets import UnresolvedReferenceError, resolve_references
from daemon.yaml_safe import load_without_aliases

FOLDER_KEYS = ("inbox", "archive", "failed", "state")
_FOLDER_LINE = re.compile(rf"({'|'.join(FOLDER_KEYS)})[ \t]*:(.*)$")


def folders_only(path: Path, environ: Mapping[str, str] | None = None) -> ApplicationConfig:
    """A config of the folders the file at `path` names, defaults for all else, no platform."""
    path = path.absolute()
    values = _folder_values(_read(path), path.parent, os.environ if environ is None else environ)
    core = CoreSettings.model_validate(values, context={"base_dir": path.parent})
    return ApplicationConfig(path=path, core=core)


def _read(path: Path) -> str:
    try:
        with path.open("rb") as file:
            return file.read(MAX_CONFIG_BYTES).decode("utf-8-sig", errors="replace")
    except OSError:  # missing or unreadable: the defaults, beside where it should be
        return ""


def _folder_values(text: str, base_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    found = _top_level(text)
    values = {}
    for key in FOLDER_KEYS:
        value = found.get(key)
        if isinstance(value, str) and value.strip():
            try:
                values[key] = resolve_references(value, base_dir, environ)
            except UnresolvedReferenceError:
                continue  # the default, as the daemon's own start would have refused it
    return values


def _top_level(text: str) -> dict[Any, Any]:
    """The top-level mapping if the YAML parses; else each folder key's own line, read alone."""
    try:
        _, data = load_without_aliases(text)
    except (yaml.YAMLError, ValueError):
        data = None
    if isinstance(data, dict):
        return data
    found: dict[Any, Any] = {}
    for line in text.splitlines():
        match = _FOLDER_LINE.match(line)  # at the start of a line: the top level
        if match is None:
            continue
        try:
            found[match.group(1)] = yaml.safe_load(match.group(2))  # quotes and comments
        except yaml.YAMLError:
            continue
    return found
