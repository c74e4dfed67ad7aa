"""`config.yaml`: loading, validation, `${...}` references and errors that say where.

The core validates its own keys; each platform's section goes, untouched, to that
platform's settings model. Errors name the file, the line, the dotted key path and
what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from daemon.alerts.settings import AlertSettings
from daemon.config_wording import describe_config_issue, describe_yaml_error
from daemon.frontmatter import ContentWarningChoice, check_content_warning
from daemon.metrics.settings import MetricsSettings
from daemon.page.settings import PageSettings
from daemon.registry import Registry, RegistryError
from daemon.secrets import UnresolvedReferenceError, resolve_references
from daemon.settings import ConfigPath, PlatformSettings, StrictModel, secret_values
from daemon.yaml_safe import YamlAliasError, YamlTooDeepError, load_without_aliases

KeyPath = tuple[str | int, ...]
ModelT = TypeVar("ModelT", bound=StrictModel)

# A config is a few KB: anything this big is the wrong file, and is not read into memory.
MAX_CONFIG_BYTES = 1024 * 1024


class LogSettings(StrictModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class CoreSettings(StrictModel):
    """The top-level keys of `config.yaml` (all but `platforms`)."""

    inbox: ConfigPath = Path("inbox")
    archive: ConfigPath = Path("archive")
    failed: ConfigPath = Path("failed")
    state: ConfigPath = Path("state")
    settle_seconds: float = Field(default=2.0, ge=0)
    poll: Literal["auto", "always", "never"] = "auto"
    rescan_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    # Waits before the 2nd, 3rd, … attempt of a post no platform accepted (the last repeats).
    retry_delays: tuple[Annotated[float, Field(ge=0)], ...] = Field(
        default=(60.0, 300.0, 900.0, 3600.0), min_length=1
    )
    allow_duplicates: bool = False
    publish_timeout: float = Field(default=120.0, gt=0)
    max_concurrent_posts: int = Field(default=4, ge=1)
    # Images of more pixels are refused at intake, from their header (daemon.post says why 50 Mpx).
    max_image_pixels: int = Field(default=50_000_000, ge=1)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    # The content warning of every post whose front matter says nothing of it.
    default_content_warning: ContentWarningChoice = "none"
    # A file without its partner (an image without its caption) is warned about after this long.
    orphan_warning_seconds: float = Field(default=60.0, gt=0)
    log: LogSettings = LogSettings()
    page: PageSettings = PageSettings()
    alerts: AlertSettings = AlertSettings()
    metrics: MetricsSettings = MetricsSettings()

    @field_validator("default_content_warning", mode="before")
    @classmethod
    def _known_warning(cls, value: object) -> object:
        return check_content_warning(value)


@dataclass(frozen=True)
class ApplicationConfig:
    """A loaded, valid config: the core settings and each platform's own settings."""

    path: Path
    core: CoreSettings
    platforms: Mapping[str, PlatformSettings] = field(default_factory=dict)
    # Values `${file:}`, `${credential:}` and NAME_FILE read: secrets by nature, in any key.
    from_files: tuple[str, ...] = ()

    @property
    def enabled_platforms(self) -> list[str]:
        return [name for name, settings in self.platforms.items() if settings.enabled]

    @property
    def secrets(self) -> list[str]:
        typed = [s for settings in self.platforms.values() for s in secret_values(settings)]
        typed += secret_values(self.core)  # alerts: a bot token, a password, an Apprise URL
        return list(dict.fromkeys([*typed, *self.from_files]))


@dataclass(frozen=True)
class ConfigProblem:
    key_path: KeyPath
    message: str


class ConfigError(Exception):
    """Raised when a config file cannot be read, parsed or validated; says file, line and key."""

    def __init__(self, path: Path, problems: Sequence[tuple[int | None, ConfigProblem]]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(self._lines()))

    def _lines(self) -> list[str]:
        lines = []
        for line, problem in self.problems:
            where = f"{self.path}, line {line}" if line else str(self.path)
            key = _dotted(problem.key_path)
            lines.append(f"{where}: {key + ': ' if key else ''}{problem.message}")
        return lines


def load_config(
    path: Path, registry: Registry, environ: Mapping[str, str] | None = None
) -> ApplicationConfig:
    """Read, resolve and validate the config at `path`, or raise `ConfigError`."""
    path = path.absolute()
    text = _read_text(path)
    document, data = _parse_yaml(path, text)
    loader = _Validator(path.parent, registry, os.environ if environ is None else environ)
    config = loader.validate(path, data)
    if loader.problems:
        found = [(_line_of(document, p.key_path), p) for p in loader.problems]
        raise ConfigError(path, sorted(found, key=lambda each: each[0] or 0))  # in file order
    assert config is not None
    return config


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            path, [(None, ConfigProblem((), "the config file does not exist"))]
        ) from None
    except OSError as error:
        raise ConfigError(path, [(None, ConfigProblem((), f"cannot read it: {error}"))]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        problem = ConfigProblem((), "the config file is larger than 1 MiB: is it the right file?")
        raise ConfigError(path, [(None, problem)])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(path, [(None, ConfigProblem((), f"cannot read it: {error}"))]) from None


def _parse_yaml(path: Path, text: str) -> tuple[yaml.Node | None, dict[str, Any]]:
    try:
        document, data = load_without_aliases(text)
    except YamlAliasError as error:
        message = (
            f"YAML aliases are not allowed in the config (found {error.count}); "
            "write the values out"
        )
        raise ConfigError(path, [(error.line, ConfigProblem((), message))]) from None
    except YamlTooDeepError:
        problem = ConfigProblem((), "nested too deeply (a config needs only a few levels)")
        raise ConfigError(path, [(None, problem)]) from None
    except yaml.MarkedYAMLError as error:
        line, message = describe_yaml_error(error, text)
        raise ConfigError(path, [(line, ConfigProblem((), message))]) from None
    except yaml.YAMLError as error:
        raise ConfigError(path, [(None, ConfigProblem((), f"not valid YAML: {error}"))]) from None
    if data is None:  # an editor may truncate before it writes: never take that as all-defaults
        raise ConfigError(path, [(None, ConfigProblem((), "the config file is empty"))])
    duplicates = _duplicate_keys(document)
    if duplicates:
        raise ConfigError(path, duplicates)
    if not isinstance(data, dict):
        problem = ConfigProblem((), "expected a mapping of settings at the top level")
        raise ConfigError(path, [(1, problem)])
    return document, data


class _Validator:
    """Validates a parsed config, collecting every problem rather than stopping at the first."""

    def __init__(self, base_dir: Path, registry: Registry, environ: Mapping[str, str]) -> None:
        self.base_dir = base_dir
        self.registry = registry
        self.environ = environ
        self.problems: list[ConfigProblem] = []
        self.from_files: list[str] = []
        # Where a `${...}` was (its value is not shown) and where one failed (reported once).
        self.referenced: set[KeyPath] = set()
        self.unresolved: set[KeyPath] = set()

    def validate(self, path: Path, data: dict[str, Any]) -> ApplicationConfig | None:
        raw_platforms = data.pop("platforms", None)
        raw_platforms = {} if raw_platforms is None else raw_platforms
        core = self._model(CoreSettings, self._resolve(data, ()), ())
        platforms = self._platforms(raw_platforms)
        if core is None or self.problems:
            return None
        return ApplicationConfig(
            path=path, core=core, platforms=platforms, from_files=tuple(self.from_files)
        )

    def _platforms(self, raw: object) -> dict[str, PlatformSettings]:
        if not isinstance(raw, dict):
            self.problems.append(
                ConfigProblem(("platforms",), "expected a mapping of platform names to settings")
            )
            return {}
        platforms = {}
        for name, section in raw.items():
            settings = self._platform(str(name), section)
            if settings is not None:
                platforms[str(name)] = settings
        return platforms

    def _platform(self, name: str, section: object) -> PlatformSettings | None:
        where: KeyPath = ("platforms", name)
        if name not in self.registry:
            known = ", ".join(self.registry.names)
            self.problems.append(
                ConfigProblem(where, f"unknown platform {name!r} (known: {known})")
            )
            return None
        section = {} if section is None else section
        if not isinstance(section, dict):
            self.problems.append(ConfigProblem(where, "expected a mapping of settings"))
            return None
        switch = self._resolve(section.get("enabled", False), (*where, "enabled"))
        enabled = self._model(PlatformSettings, {"enabled": switch}, where)
        if enabled is None or not enabled.enabled:
            # A disabled platform is only checked for its switch: its secrets may well be unset.
            return enabled
        try:
            model = self.registry[name].settings_model
        except RegistryError as error:  # loaded on first use: a reload may be the first
            self.problems.append(ConfigProblem(where, str(error)))
            return None
        return self._model(model, self._resolve(section, where), where)

    def _resolve(self, value: Any, where: KeyPath) -> Any:
        if isinstance(value, str):
            try:
                resolved = resolve_references(value, self.base_dir, self.environ, self.from_files)
            except UnresolvedReferenceError as error:
                if where not in self.unresolved:  # `enabled` is resolved twice
                    self.problems.append(ConfigProblem(where, str(error)))
                self.unresolved.add(where)
                return value
            if resolved != value:
                self.referenced.add(where)
            return resolved
        if isinstance(value, dict):
            return {key: self._resolve(item, (*where, str(key))) for key, item in value.items()}
        if isinstance(value, list):
            return [self._resolve(item, (*where, index)) for index, item in enumerate(value)]
        return value

    def _model(self, model: type[ModelT], data: object, where: KeyPath) -> ModelT | None:
        try:
            return model.model_validate(data, context={"base_dir": self.base_dir})
        except ValidationError as error:
            for issue in _first_causes(error.errors(include_url=False)):
                key_path = (*where, *issue["loc"])
                if not _within(key_path, self.unresolved):  # else already said: the variable
                    hidden = _within(key_path, self.referenced) or any(
                        _within(reference, {key_path}) for reference in self.referenced
                    )
                    message = describe_config_issue(issue, model, hidden)
                    self.problems.append(ConfigProblem(key_path, message))
            return None


def _first_causes(issues: list[ErrorDetails]) -> list[ErrorDetails]:
    """The issues less those a bad item caused: a list of one bad item is then "too short"."""
    return [
        issue
        for issue in issues
        if issue["type"] not in ("too_short", "too_long")
        or not any(
            len(other["loc"]) > len(issue["loc"])
            and other["loc"][: len(issue["loc"])] == issue["loc"]
            for other in issues
        )
    ]


def _within(key_path: KeyPath, places: set[KeyPath]) -> bool:
    """Whether `key_path` is one of `places` or inside one of them."""
    return any(key_path[: len(place)] == place for place in places)


def _dotted(key_path: KeyPath) -> str:
    text = ""
    for part in key_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _line_of(node: yaml.Node | None, key_path: KeyPath) -> int | None:
    """The line of the deepest key (or list item) along `key_path` in the YAML document."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in key_path:
        found = _child(node, part)
        if found is None:
            break
        node, line = found[1], found[0].start_mark.line + 1
    return line


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """The (key, value) nodes for `part` of a mapping, or (item, item) of a sequence."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return key, value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part], node.value[part]
    return None


def _duplicate_keys(node: yaml.Node | None, where: KeyPath = ()) -> list[tuple[int, ConfigProblem]]:
    """Keys given twice in one mapping: YAML keeps the last silently, which hides mistakes."""
    problems: list[tuple[int, ConfigProblem]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                problem = ConfigProblem((*where, key.value), "this key is given twice")
                problems.append((key.start_mark.line + 1, problem))
            seen.add(key.value)
            problems += _duplicate_keys(value, (*where, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _duplicate_keys(item, (*where, index))
    return problems
