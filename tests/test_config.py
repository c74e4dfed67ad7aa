"""`load_config`: a valid config, `${...}` references, secrets, and errors that say where."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import cast

import pytest
from pydantic import Field, SecretStr

from daemon.config import ConfigError, CoreSettings, LogSettings, load_config
from daemon.post import Post
from daemon.publisher import Publisher, PublisherClass, PublishResult
from daemon.publishers.preview import PreviewSettings
from daemon.registry import Registry
from daemon.settings import PlatformSettings
from tests.fakes.publishers import RecordingPublisher, RecordingSettings


class VaultSettings(PlatformSettings):
    """A platform with secrets in several shapes, to see which values count as secrets."""

    token: SecretStr
    backup_tokens: list[SecretStr] = Field(default_factory=list)
    username: str = "me"
    tags: list[str] = Field(default_factory=list)
    retries: int = 3


class VaultPublisher(Publisher[VaultSettings]):
    """A publisher that only exists to own `VaultSettings`."""

    platform_name = "vault"
    settings_model = VaultSettings

    async def publish(self, post: Post) -> PublishResult:
        return PublishResult(ok=True)


@pytest.fixture
def small_registry() -> Registry:
    """Two known platforms, so messages that list them are short and exact."""
    return Registry(
        {
            "recording": cast(PublisherClass, RecordingPublisher),
            "vault": cast(PublisherClass, VaultPublisher),
        }
    )


def write(folder: Path, text: str, name: str = "config.yaml") -> Path:
    """Write `text` (dedented) as a config file in `folder` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(path: Path, registry: Registry, environ: dict[str, str] | None = None) -> str:
    """The text of the `ConfigError` that loading `path` raises."""
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry, environ={} if environ is None else environ)
    return str(caught.value)


# --- a valid config ---------------------------------------------------------------------


def test_valid_config_loads_core_and_platform_settings(tmp_path: Path, registry: Registry) -> None:
    """Every core key and each platform's own section arrive validated and typed."""
    path = write(
        tmp_path,
        """\
        inbox: drop
        archive: done
        failed: broken
        state: var
        settle_seconds: 1.5
        poll: always
        rescan_seconds: 10
        max_attempts: 3
        publish_timeout: 30
        max_concurrent_posts: 2
        shutdown_grace_seconds: 7
        log: {level: debug, format: json}
        platforms:
          recording: {enabled: true, label: main, behaviour: fail, delay: 0.5}
          recording2: {enabled: false}
        """,
    )

    config = load_config(path, registry, environ={})

    assert config.path == path
    assert config.core == CoreSettings(
        inbox=tmp_path / "drop",
        archive=tmp_path / "done",
        failed=tmp_path / "broken",
        state=tmp_path / "var",
        settle_seconds=1.5,
        poll="always",
        rescan_seconds=10,
        max_attempts=3,
        publish_timeout=30,
        max_concurrent_posts=2,
        shutdown_grace_seconds=7,
        log=LogSettings(level="debug", format="json"),
    )
    assert config.platforms["recording"] == RecordingSettings(
        enabled=True, label="main", behaviour="fail", delay=0.5
    )
    assert config.enabled_platforms == ["recording"]


def test_keys_left_out_take_their_defaults(tmp_path: Path, registry: Registry) -> None:
    """A config that sets one key gets the documented defaults for all the others."""
    path = write(tmp_path, "max_attempts: 9\n")

    core = load_config(path, registry, environ={}).core

    assert core.max_attempts == 9
    assert (core.settle_seconds, core.poll, core.publish_timeout) == (2.0, "auto", 120.0)
    assert (core.log.level, core.log.format) == ("info", "auto")
    assert core.default_content_warning == "none"


@pytest.mark.parametrize("warning", ["none", "nudity", "sexual", "porn", "graphic-media"])
def test_default_content_warning_takes_each_choice(
    tmp_path: Path, registry: Registry, warning: str
) -> None:
    """default_content_warning is one of the front matter's choices."""
    path = write(tmp_path, f"default_content_warning: {warning}\n")
    assert load_config(path, registry, environ={}).core.default_content_warning == warning


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_an_empty_file_is_an_error(tmp_path: Path, registry: Registry, text: str) -> None:
    """An empty config (an editor mid-save, say) is refused, never taken as every default."""
    path = write(tmp_path, text)

    assert load_error(path, registry) == f"{path}: the config file is empty"


def test_a_config_with_only_a_key_takes_the_defaults(tmp_path: Path, registry: Registry) -> None:
    """Every key left out takes its default, relative to the config's folder."""
    path = write(tmp_path, "platforms: {}\n")

    config = load_config(path, registry, environ={})

    assert config.core == CoreSettings(
        inbox=tmp_path / "inbox",
        archive=tmp_path / "archive",
        failed=tmp_path / "failed",
        state=tmp_path / "state",
    )
    assert dict(config.platforms) == {}
    assert config.enabled_platforms == []


def test_utf8_byte_order_mark_is_tolerated(tmp_path: Path, registry: Registry) -> None:
    """A config saved by an editor that writes a BOM still loads."""
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xef\xbb\xbfmax_attempts: 4\n")

    assert load_config(path, registry, environ={}).core.max_attempts == 4


def test_platform_section_without_enabled_is_disabled(tmp_path: Path, registry: Registry) -> None:
    """A platform is off unless its section says `enabled: true`."""
    path = write(tmp_path, "platforms:\n  recording: {label: quiet}\n  recording2:\n")

    config = load_config(path, registry, environ={})

    assert sorted(config.platforms) == ["recording", "recording2"]
    assert config.enabled_platforms == []


# --- paths ------------------------------------------------------------------------------


def test_relative_paths_resolve_from_the_config_folder(tmp_path: Path, registry: Registry) -> None:
    """Relative core paths are joined to the folder holding config.yaml, not the cwd."""
    folder = tmp_path / "etc" / "dropcast"
    path = write(folder, "inbox: drop/inbox\narchive: ../archive\n")

    core = load_config(path, registry, environ={}).core

    assert core.inbox == folder / "drop" / "inbox"
    assert core.archive == folder / ".." / "archive"


def test_default_paths_resolve_from_the_config_folder(tmp_path: Path, registry: Registry) -> None:
    """Core paths left at their defaults are in the config folder too, not in the cwd."""
    path = write(tmp_path, "settle_seconds: 1\n")

    core = load_config(path, registry, environ={}).core

    assert [core.inbox, core.archive, core.failed, core.state] == [
        tmp_path / "inbox",
        tmp_path / "archive",
        tmp_path / "failed",
        tmp_path / "state",
    ]


def test_relative_config_path_is_made_absolute(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config named relative to the cwd still yields absolute paths for everything."""
    write(tmp_path / "conf", "inbox: drop\n")
    monkeypatch.chdir(tmp_path)

    config = load_config(Path("conf/config.yaml"), registry, environ={})

    assert config.path == tmp_path / "conf" / "config.yaml"
    assert config.core.inbox == tmp_path / "conf" / "drop"
    assert config.core.inbox.is_absolute()


def test_absolute_paths_are_kept_as_they_are(tmp_path: Path, registry: Registry) -> None:
    """An absolute path in the config is not moved under the config folder."""
    elsewhere = tmp_path / "srv" / "inbox"
    path = write(tmp_path / "conf", f"inbox: {elsewhere}\n")

    assert load_config(path, registry, environ={}).core.inbox == elsewhere


def test_platform_paths_resolve_from_the_config_folder(tmp_path: Path, registry: Registry) -> None:
    """A path inside a platform's own section is relative to the config folder too."""
    folder = tmp_path / "conf"
    path = write(folder, "platforms:\n  preview: {enabled: true, folder: site/gallery}\n")

    settings = load_config(path, registry, environ={}).platforms["preview"]

    assert isinstance(settings, PreviewSettings)
    assert settings.folder == folder / "site" / "gallery"


def test_platform_default_path_resolves_from_the_config_folder(
    tmp_path: Path, registry: Registry
) -> None:
    """A platform path left at its default is in the config folder, not in the cwd."""
    path = write(tmp_path, "platforms:\n  preview: {enabled: true}\n")

    settings = load_config(path, registry, environ={}).platforms["preview"]

    assert isinstance(settings, PreviewSettings)
    assert settings.folder == tmp_path / "preview"


def test_path_from_env_var_resolves_from_the_config_folder(
    tmp_path: Path, registry: Registry
) -> None:
    """A relative path that comes from `${ENV_VAR}` is still relative to the config folder."""
    path = write(tmp_path, "inbox: ${DROP_INBOX}\n")

    core = load_config(path, registry, environ={"DROP_INBOX": "shared/drop"}).core

    assert core.inbox == tmp_path / "shared" / "drop"


# --- ${...} references --------------------------------------------------------------------

# (value in the YAML, environment, files to write under tmp_path, expected result).
# In environment values, {tmp} stands for tmp_path.
REFERENCE_CASES: list[tuple[str, dict[str, str], dict[str, str], str]] = [
    ("${LABEL}", {"LABEL": "from-env"}, {}, "from-env"),
    ("pre-${A}-mid-${B}-post", {"A": "one", "B": "two"}, {}, "pre-one-mid-two-post"),
    ("${ LABEL }", {"LABEL": "spaced"}, {}, "spaced"),
    ("${LABEL}", {"LABEL": ""}, {}, ""),
    ("${LABEL}", {"LABEL": "${OTHER}", "OTHER": "no"}, {}, "${OTHER}"),
    ("$${LABEL}", {"LABEL": "not used"}, {}, "${LABEL}"),
    ("cost $5 {braces} $", {}, {}, "cost $5 {braces} $"),
    ("${file:secrets/label}", {}, {"secrets/label": "from-file\n"}, "from-file"),
    ("${file:secrets/label}", {}, {"secrets/label": "two\nlines\r\n"}, "two\nlines"),
    ("${file:{tmp}/abs/label}", {}, {"abs/label": "absolute"}, "absolute"),
    (
        "${credential:label}",
        {"CREDENTIALS_DIRECTORY": "{tmp}/creds"},
        {"creds/label": "from-systemd\n"},
        "from-systemd",
    ),
    ("${LABEL}", {"LABEL_FILE": "{tmp}/run/label"}, {"run/label": "docker\n"}, "docker"),
    ("${LABEL}", {"LABEL": "env wins", "LABEL_FILE": "{tmp}/nope"}, {}, "env wins"),
]


@pytest.mark.parametrize(
    ("value", "environ", "files", "expected"),
    REFERENCE_CASES,
    ids=[
        "env-var",
        "several-in-one-string",
        "spaces-inside-braces",
        "empty-env-var",
        "env-value-not-expanded-again",
        "dollar-dollar-escape",
        "lone-dollars-and-braces",
        "file-relative-to-config",
        "file-keeps-inner-newlines",
        "file-absolute",
        "systemd-credential",
        "name-file-fallback",
        "env-var-before-name-file",
    ],
)
def test_reference_resolves_to(
    tmp_path: Path,
    registry: Registry,
    value: str,
    environ: dict[str, str],
    files: dict[str, str],
    expected: str,
) -> None:
    """Each form of `${...}` in a platform string resolves to the value it names."""
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content.encode())
    environ = {key: item.replace("{tmp}", str(tmp_path)) for key, item in environ.items()}
    value = value.replace("{tmp}", str(tmp_path))
    path = tmp_path / "config.yaml"
    path.write_text(
        f"platforms:\n  recording:\n    enabled: true\n    label: '{value}'\n", encoding="utf-8"
    )

    settings = load_config(path, registry, environ=environ).platforms["recording"]

    assert isinstance(settings, RecordingSettings)
    assert settings.label == expected


def test_reference_resolves_in_nested_core_key(tmp_path: Path, registry: Registry) -> None:
    """A `${...}` two levels down in the core settings is resolved before validation."""
    path = write(tmp_path, "log:\n  level: ${LOG_LEVEL}\n")

    config = load_config(path, registry, environ={"LOG_LEVEL": "warning"})

    assert config.core.log.level == "warning"


def test_reference_resolves_in_list_items(tmp_path: Path, small_registry: Registry) -> None:
    """A `${...}` inside a list in a platform section is resolved, item by item."""
    path = write(
        tmp_path,
        """\
        platforms:
          vault:
            enabled: true
            token: t
            tags: ["${FIRST}", plain, "#${SECOND}"]
        """,
    )

    config = load_config(path, small_registry, environ={"FIRST": "a", "SECOND": "b"})

    settings = config.platforms["vault"]
    assert isinstance(settings, VaultSettings)
    assert settings.tags == ["a", "plain", "#b"]


def test_number_from_env_var_is_validated_as_a_number(tmp_path: Path, registry: Registry) -> None:
    """A numeric key given as `${ENV_VAR}` gets the variable's text converted by its model."""
    path = write(tmp_path, "settle_seconds: ${SETTLE}\n")

    assert load_config(path, registry, environ={"SETTLE": "0.25"}).core.settle_seconds == 0.25


def test_environ_defaults_to_the_process_environment(tmp_path: Path, registry: Registry) -> None:
    """Without `environ=`, references are looked up in `os.environ` (PATH is always set)."""
    path = write(tmp_path, "platforms:\n  recording: {enabled: true, label: '${PATH}'}\n")

    settings = load_config(path, registry).platforms["recording"]

    assert isinstance(settings, RecordingSettings)
    assert settings.label != "${PATH}"
    assert settings.label


def test_missing_env_var_in_enabled_platform_is_an_error(
    tmp_path: Path, registry: Registry
) -> None:
    """An enabled platform whose secret's variable is unset fails with its key and line."""
    path = write(
        tmp_path,
        """\
        platforms:
          recording:
            enabled: true
            token: ${RECORDING_TOKEN}
        """,
    )

    message = load_error(path, registry)

    assert message == (
        f"{path}, line 4: platforms.recording.token: "
        "environment variable RECORDING_TOKEN is not set"
    )


def test_missing_env_var_in_disabled_platform_is_fine(tmp_path: Path, registry: Registry) -> None:
    """A disabled platform's section may name variables that are not set."""
    path = write(
        tmp_path,
        """\
        platforms:
          recording: {enabled: true}
          recording2:
            enabled: false
            token: ${RECORDING2_TOKEN}
            label: ${file:no/such/file}
        """,
    )

    config = load_config(path, registry, environ={})

    assert config.enabled_platforms == ["recording"]
    assert config.platforms["recording2"].enabled is False


def test_missing_env_var_in_core_setting_is_an_error(tmp_path: Path, registry: Registry) -> None:
    """An unset variable in a core key is always an error: the core is always in use."""
    path = write(tmp_path, "settle_seconds: 1\ninbox: ${DROP_INBOX}\n")

    assert load_error(path, registry) == (
        f"{path}, line 2: inbox: environment variable DROP_INBOX is not set"
    )


# --- errors -------------------------------------------------------------------------------

# (config text, expected error text after "<path>"). The registry knows recording and vault.
ERROR_CASES: list[tuple[str, str]] = [
    (
        "inbox: inbox\nlog:\n  level: loud\n",
        ", line 3: log.level: 'loud' is not one of: debug, info, warning, error",
    ),
    (
        "platforms:\n  recording:\n    enabled: true\n    delay: soon\n",
        ", line 4: platforms.recording.delay: 'soon' is not a number",
    ),
    (
        "platforms:\n  vault:\n    enabled: true\n    token: t\n    tags: [ok, [nested]]\n",
        ", line 5: platforms.vault.tags[1]: a list of 1 item is not text",
    ),
    ("inbox: inbox\ncolour: red\n", ", line 2: colour: unknown key 'colour' (a typo?)"),
    (
        "platforms:\n  recording:\n    enabled: true\n    colour: red\n",
        ", line 4: platforms.recording.colour: unknown key 'colour' (a typo?)",
    ),
    (
        "platforms:\n  telegrm: {enabled: true}\n",
        ", line 2: platforms.telegrm: unknown platform 'telegrm' (known: recording, vault)",
    ),
    (
        "platforms:\n  recording: [enabled]\n",
        ", line 2: platforms.recording: expected a mapping of settings",
    ),
    (
        "platforms: [recording]\n",
        ", line 1: platforms: expected a mapping of platform names to settings",
    ),
    (
        "platforms:\n  vault: {enabled: true}\n",
        ", line 2: platforms.vault.token: required key is missing",
    ),
    (
        "inbox: x\nlog: {level: info\nmax_attempts: 2\n",
        ", line 2: not valid YAML: the { opened here (column 6) is never closed "
        "(at line 3: expected ',' or '}', but got ':')",
    ),
    (
        "inbox: x\n\tarchive: y\n",
        ", line 2: not valid YAML: found character '\\t' that cannot start any token",
    ),
    ("inbox: a\n---\ninbox: b\n", ", line 2: not valid YAML: but found another document"),
    ("- inbox\n- archive\n", ", line 1: expected a mapping of settings at the top level"),
    ("just some words\n", ", line 1: expected a mapping of settings at the top level"),
    (
        "settle_seconds: -1\n",
        ", line 1: settle_seconds: -1 is too small: it must be at least 0",
    ),
    (
        "max_attempts: 0\n",
        ", line 1: max_attempts: 0 is too small: it must be at least 1",
    ),
    (
        "poll: sometimes\n",
        ", line 1: poll: 'sometimes' is not one of: auto, always, never",
    ),
    (
        "inbox: ${not valid}\n",
        ", line 1: inbox: ${not valid} is not a valid reference: "
        "expected ${ENV_VAR}, ${file:PATH} or ${credential:NAME}",
    ),
    (
        "inbox: ${credential:inbox}\n",
        ", line 1: inbox: ${credential:inbox}: CREDENTIALS_DIRECTORY is not set "
        "(systemd sets it for a unit with LoadCredential=)",
    ),
    (
        "inbox: x\ndefault_content_warning: nude\n",
        ", line 2: default_content_warning: 'nude' is not a content warning; "
        "choose one of none, nudity, sexual, porn, graphic-media",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    ERROR_CASES,
    ids=[
        "wrong-type-nested-core-key",
        "wrong-type-platform-key",
        "wrong-type-list-item",
        "unknown-top-level-key",
        "unknown-key-in-platform",
        "unknown-platform",
        "platform-section-not-a-mapping",
        "platforms-not-a-mapping",
        "required-platform-key-missing",
        "invalid-yaml-flow-mapping",
        "invalid-yaml-tab",
        "two-yaml-documents",
        "top-level-list",
        "top-level-scalar",
        "negative-settle-seconds",
        "zero-max-attempts",
        "poll-not-a-choice",
        "malformed-reference",
        "credential-without-directory",
        "content-warning-not-a-choice",
    ],
)
def test_config_error_names_file_line_key_and_expectation(
    tmp_path: Path, small_registry: Registry, text: str, expected: str
) -> None:
    """A bad config raises one `ConfigError` line: file, line, dotted key, what was expected."""
    path = write(tmp_path, text)

    assert load_error(path, small_registry) == f"{path}{expected}"


def test_missing_file_is_a_config_error(tmp_path: Path, registry: Registry) -> None:
    """A config path that does not exist raises `ConfigError` naming the file."""
    path = tmp_path / "nope.yaml"

    assert load_error(path, registry) == f"{path}: the config file does not exist"


def test_config_that_is_not_utf8_is_a_config_error(tmp_path: Path, registry: Registry) -> None:
    """A Latin-1 config file is reported as unreadable, naming the file."""
    path = tmp_path / "config.yaml"
    path.write_bytes("inbox: caf\u00e9\n".encode("latin-1"))

    message = load_error(path, registry)

    assert message.startswith(f"{path}: cannot read it: ")
    assert "can't decode byte 0xe9" in message


def test_unreadable_secret_file_is_a_config_error(tmp_path: Path, registry: Registry) -> None:
    """A `${file:...}` whose file is missing says which reference and which file."""
    path = write(tmp_path, "platforms:\n  recording: {enabled: true, token: '${file:token}'}\n")

    assert load_error(path, registry) == (
        f"{path}, line 2: platforms.recording.token: ${{file:token}}: "
        f"cannot read {tmp_path / 'token'}: No such file or directory"
    )


def test_missing_name_file_is_a_config_error(tmp_path: Path, registry: Registry) -> None:
    """A `NAME_FILE` pointing at a missing file is reported against the key that used it."""
    path = write(tmp_path, "platforms:\n  recording: {enabled: true, token: '${TOKEN}'}\n")
    missing = tmp_path / "run" / "token"

    message = load_error(path, registry, environ={"TOKEN_FILE": str(missing)})

    assert message == (
        f"{path}, line 2: platforms.recording.token: $TOKEN_FILE: "
        f"cannot read {missing}: No such file or directory"
    )


def test_every_problem_is_reported_at_once(tmp_path: Path, small_registry: Registry) -> None:
    """Core, platform and reference problems all appear in one error, in file order."""
    path = write(
        tmp_path,
        """\
        settle_seconds: -1
        colour: red
        platforms:
          recording:
            enabled: true
            token: ${UNSET_TOKEN}
            behaviour: sometimes
          telegrm: {enabled: true}
        """,
    )

    with pytest.raises(ConfigError) as caught:
        load_config(path, small_registry, environ={})

    assert caught.value.path == path
    assert str(caught.value).splitlines() == [
        f"{path}, line 1: settle_seconds: -1 is too small: it must be at least 0",
        f"{path}, line 2: colour: unknown key 'colour' (a typo?)",
        f"{path}, line 6: platforms.recording.token: environment variable UNSET_TOKEN is not set",
        f"{path}, line 7: platforms.recording.behaviour: "
        "'sometimes' is not one of: ok, fail, raise, hang, socket_timeout",
        f"{path}, line 8: platforms.telegrm: unknown platform 'telegrm' (known: recording, vault)",
    ]
    assert [line for line, _ in caught.value.problems] == [1, 2, 6, 7, 8]


def test_unknown_platform_lists_every_known_platform(tmp_path: Path, registry: Registry) -> None:
    """The unknown-platform message names each platform the registry knows, sorted."""
    path = write(tmp_path, "platforms:\n  telegrm: {enabled: true}\n")

    message = load_error(path, registry)

    assert message.endswith(f"unknown platform 'telegrm' (known: {', '.join(registry.names)})")
    assert registry.names == sorted(registry.names)
    assert {"barrier", "preview", "recording"} <= set(registry.names)


def test_unknown_key_with_block_value_names_the_key_line(
    tmp_path: Path, registry: Registry
) -> None:
    """An unknown key whose value is an indented block is reported on the key's own line."""
    path = write(tmp_path, "inbox: inbox\nlogging:\n  level: info\n")

    assert load_error(path, registry) == (
        f"{path}, line 2: logging: unknown key 'logging' (did you mean 'log'?)"
    )


@pytest.mark.parametrize(
    ("enabled", "environ"),
    [("'${RECORDING_ON}'", {"RECORDING_ON": "true"}), ("'true'", {}), ("1", {})],
    ids=["env-var", "quoted-string", "integer"],
)
def test_enabled_platform_gets_its_own_settings_however_enabled_is_spelt(
    tmp_path: Path, registry: Registry, enabled: str, environ: dict[str, str]
) -> None:
    """A platform that ends up enabled is validated by, and given, its own settings model."""
    path = write(tmp_path, f"platforms:\n  recording: {{enabled: {enabled}, label: main}}\n")

    settings = load_config(path, registry, environ=environ).platforms["recording"]

    assert isinstance(settings, RecordingSettings)
    assert settings.label == "main"


# --- secrets ------------------------------------------------------------------------------


def test_secrets_lists_every_secret_value(tmp_path: Path, small_registry: Registry) -> None:
    """`ApplicationConfig.secrets` holds each `SecretStr` value, resolved, and nothing else."""
    (tmp_path / "backup").write_text("backup-from-file\n", encoding="utf-8")
    path = write(
        tmp_path,
        """\
        platforms:
          vault:
            enabled: true
            token: ${VAULT_TOKEN}
            backup_tokens: ["${file:backup}", literal-backup]
            username: not-a-secret
        """,
    )

    config = load_config(path, small_registry, environ={"VAULT_TOKEN": "tok-123"})

    assert config.secrets == ["tok-123", "backup-from-file", "literal-backup"]


def test_secret_values_stay_hidden_in_the_settings_repr(
    tmp_path: Path, small_registry: Registry
) -> None:
    """A `SecretStr` setting does not show its value when the settings are printed."""
    path = write(tmp_path, "platforms:\n  vault: {enabled: true, token: '${VAULT_TOKEN}'}\n")

    config = load_config(path, small_registry, environ={"VAULT_TOKEN": "tok-123"})

    assert "tok-123" not in repr(config)
    assert "tok-123" not in str(config.platforms["vault"])


def test_disabled_platform_contributes_no_secrets(tmp_path: Path, small_registry: Registry) -> None:
    """A disabled platform's section is not resolved, so none of its values are secrets."""
    path = write(tmp_path, "platforms:\n  vault: {enabled: false, token: '${VAULT_TOKEN}'}\n")

    config = load_config(path, small_registry, environ={"VAULT_TOKEN": "tok-123"})

    assert config.secrets == []


def test_secrets_never_appear_in_config_errors(tmp_path: Path, small_registry: Registry) -> None:
    """Resolved secret values misplaced in other keys are not echoed by the error text."""
    (tmp_path / "secret.txt").write_text("file-secret-456\n", encoding="utf-8")
    path = write(
        tmp_path,
        """\
        settle_seconds: ${VAULT_TOKEN}
        poll: ${file:secret.txt}
        platforms:
          vault:
            enabled: true
            token: ${VAULT_TOKEN}
            retries: ${VAULT_TOKEN}
            tags: ${file:secret.txt}
            colour: ${VAULT_TOKEN}
          recording:
            enabled: true
            behaviour: ${file:secret.txt}
            delay: ${VAULT_TOKEN}
        """,
    )
    environ = {"VAULT_TOKEN": "env-secret-123"}

    with pytest.raises(ConfigError) as caught:
        load_config(path, small_registry, environ=environ)

    shown = str(caught.value) + repr(caught.value.problems)
    assert len(caught.value.problems) == 7
    assert "env-secret-123" not in shown
    assert "file-secret-456" not in shown


def test_config_error_is_one_line_per_problem(tmp_path: Path, registry: Registry) -> None:
    """Each problem is a line of its own, so a log line or terminal shows them cleanly."""
    path = write(tmp_path, "poll: x\nmax_attempts: x\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path, registry, environ={})

    problems = caught.value.problems
    assert len(str(caught.value).splitlines()) == len(problems) == 2


# --- what cannot be read safely: aliases, size, depth -----------------------------------


def alias_bomb(levels: int = 7) -> tuple[str, int]:
    """A small valid-looking config whose aliases stand for 10**levels values; and its first alias's line.

    Seven levels is the issue's case: about 500 bytes that took the old loader 20 s and more.
    """
    lines = ["inbox: inbox", "platforms:", "  preview:", "    enabled: true"]
    lines.append("x0: &x0 [a, b, c, d, e, f, g, h, i, j]")
    first_alias = len(lines) + 1
    for level in range(1, levels + 1):
        lines.append(f"x{level}: &x{level} [" + ", ".join([f"*x{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n", first_alias


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path, registry: Registry) -> None:
    """Nested aliases are refused with the line of the first and their count, without expanding them."""
    text, line = alias_bomb()
    path = write(tmp_path, text)

    error = load_error(path, registry)

    assert error == (
        f"{path}, line {line}: YAML aliases are not allowed in the config (found 70); "
        "write the values out"
    )


def test_a_single_alias_is_refused_too(tmp_path: Path, registry: Registry) -> None:
    """Even one harmless alias is refused: a config has no need of them, and one rule is clear."""
    path = write(
        tmp_path,
        """\
        inbox: &folder drop
        archive: *folder
        """,
    )

    error = load_error(path, registry)

    assert error == (
        f"{path}, line 2: YAML aliases are not allowed in the config (found 1); write the values out"
    )


def test_a_config_over_one_mebibyte_is_not_read(tmp_path: Path, registry: Registry) -> None:
    """A file larger than 1 MiB is refused as the wrong file, even when it is valid YAML."""
    path = tmp_path / "config.yaml"
    path.write_text("inbox: inbox\n" + "#" * (1024 * 1024) + "\n", encoding="utf-8")

    error = load_error(path, registry)

    assert error == f"{path}: the config file is larger than 1 MiB: is it the right file?"


def test_deep_nesting_is_a_config_error_not_a_crash(tmp_path: Path, registry: Registry) -> None:
    """Thousands of nested brackets are a config error, not a RecursionError out of the parser."""
    path = write(tmp_path, "inbox: " + "[" * 3000 + "]" * 3000 + "\n")

    error = load_error(path, registry)

    assert error == f"{path}: nested too deeply (a config needs only a few levels)"


def test_check_refuses_an_alias_bomb_with_its_file_and_line(tmp_path: Path) -> None:
    """`dropcast check` on the issue's alias bomb exits 1 at once, saying where and what is wrong."""
    text, line = alias_bomb()
    path = write(tmp_path, text)

    finished = subprocess.run(
        [sys.executable, "-m", "daemon", "--config", str(path), "check"],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )

    assert finished.returncode == 1
    assert finished.stderr == (
        f"dropcast: {path}, line {line}: YAML aliases are not allowed in the config (found 70); "
        "write the values out\n"
    )


# --- ${file:} reads only from the folders meant for secrets -------------------------------


def test_file_reference_outside_the_secret_folders_is_refused(
    tmp_path: Path, registry: Registry
) -> None:
    """`${file:/etc/passwd}` is a config error naming the file, line, key and the allowed folders."""
    path = write(
        tmp_path, "platforms:\n  recording: {enabled: true, label: '${file:/etc/passwd}'}\n"
    )

    assert load_error(path, registry) == (
        f"{path}, line 2: platforms.recording.label: ${{file:/etc/passwd}}: /etc/passwd is "
        f"outside the folders secrets are read from ({tmp_path}, /run/secrets): "
        "move the file into one of them"
    )


def test_file_reference_may_not_climb_out_of_the_config_folder(
    tmp_path: Path, registry: Registry
) -> None:
    """A relative path with `..` is judged by where it leads, not by how it starts."""
    (tmp_path / "outside").write_text("not for the config\n", encoding="utf-8")
    path = write(
        tmp_path / "conf", "platforms:\n  recording: {enabled: true, label: '${file:../outside}'}\n"
    )

    message = load_error(path, registry)

    assert message.startswith(f"{path}, line 2: platforms.recording.label: ${{file:../outside}}: ")
    assert f"(it leads to {tmp_path / 'outside'}) is outside the folders" in message


def test_file_reference_through_a_link_out_of_the_folder_is_refused(
    tmp_path: Path, registry: Registry
) -> None:
    """A symbolic link in the config's folder that points elsewhere is refused, naming its target."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "label").symlink_to("/etc/passwd")
    path = write(
        tmp_path / "conf", "platforms:\n  recording: {enabled: true, label: '${file:label}'}\n"
    )

    message = load_error(path, registry)

    assert f"{tmp_path / 'conf' / 'label'} (it leads to /etc/passwd) is outside" in message


def test_credential_name_may_not_climb_out_of_its_directory(
    tmp_path: Path, registry: Registry
) -> None:
    """`${credential:../x}` is refused: a credential lies in $CREDENTIALS_DIRECTORY itself."""
    (tmp_path / "creds").mkdir()
    (tmp_path / "stolen").write_text("x\n", encoding="utf-8")
    path = write(
        tmp_path, "platforms:\n  recording: {enabled: true, label: '${credential:../stolen}'}\n"
    )

    message = load_error(path, registry, environ={"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")})

    assert message.endswith(
        f"is outside the folders secrets are read from ({tmp_path / 'creds'}): "
        "move the file into one of them"
    )


@pytest.mark.parametrize("place", ["run-secrets", "credentials"])
def test_file_reference_reads_docker_and_systemd_secret_folders(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch, place: str
) -> None:
    """`${file:}` reads from /run/secrets and $CREDENTIALS_DIRECTORY, outside the config's folder."""
    folder = tmp_path / place
    folder.mkdir()
    (folder / "label").write_text("from-the-secret-folder\n", encoding="utf-8")
    monkeypatch.setattr("daemon.secrets.SECRETS_FOLDER", tmp_path / "run-secrets")
    path = write(
        tmp_path / "conf",
        f"platforms:\n  recording: {{enabled: true, label: '${{file:{folder}/label}}'}}\n",
    )

    config = load_config(
        path, registry, environ={"CREDENTIALS_DIRECTORY": str(tmp_path / "credentials")}
    )

    assert cast(RecordingSettings, config.platforms["recording"]).label == "from-the-secret-folder"


def test_file_reference_to_a_fifo_is_refused_without_waiting(
    tmp_path: Path, registry: Registry
) -> None:
    """A FIFO (or any file that is not a regular one) is a config error, not a hang at start."""
    import os  # here, not at the top: this file's imports belong to another change

    os.mkfifo(tmp_path / "label")
    path = write(tmp_path, "platforms:\n  recording: {enabled: true, label: '${file:label}'}\n")

    assert load_error(path, registry) == (
        f"{path}, line 2: platforms.recording.label: ${{file:label}}: "
        f"{tmp_path / 'label'} is not a regular file"
    )


def test_values_read_from_files_are_secrets_in_any_key(
    tmp_path: Path, small_registry: Registry
) -> None:
    """A file's contents count as a secret even in a plain key; a value too short to be one does not."""
    (tmp_path / "name").write_text("account-from-a-file\n", encoding="utf-8")
    (tmp_path / "short").write_text("short\n", encoding="utf-8")
    path = write(
        tmp_path,
        """\
        platforms:
          vault:
            enabled: true
            token: literal-token
            username: ${file:name}
            tags: ["${file:short}"]
        """,
    )

    config = load_config(path, small_registry, environ={})

    assert config.secrets == ["literal-token", "account-from-a-file"]
