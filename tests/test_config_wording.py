"""Config errors in plain words: the bad value (never a secret's), what was expected, the key
meant, one line for a missing variable, and the line a bracket or quote was opened on."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from daemon.config import ConfigError, load_config
from daemon.registry import Registry


def config_error(
    folder: Path, text: str, registry: Registry, environ: dict[str, str] | None = None
) -> list[str]:
    """The lines of the `ConfigError` for `text` (dedented) as config.yaml, less the file's path."""
    path = folder / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry, environ={} if environ is None else environ)
    return [line.removeprefix(f"{path}, ") for line in str(caught.value).splitlines()]


class TestPlainWords:
    """A wrong value is shown and what was expected is said as a person would say it."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("max_attempts: five\n", "line 1: max_attempts: 'five' is not a whole number"),
            ("max_attempts: 2.5\n", "line 1: max_attempts: 2.5 is not a whole number"),
            (
                "poll: sometimes\n",
                "line 1: poll: 'sometimes' is not one of: auto, always, never",
            ),
            (
                "allow_duplicates: maybe\n",
                "line 1: allow_duplicates: 'maybe' is not true or false",
            ),
            ("settle_seconds: soon\n", "line 1: settle_seconds: 'soon' is not a number"),
            (
                "publish_timeout: 0\n",
                "line 1: publish_timeout: 0 is too small: it must be more than 0",
            ),
            (
                "retry_delays: []\n",
                "line 1: retry_delays: an empty list is too short: give at least 1 item",
            ),
            (
                "log: loud\n",
                "line 1: log: 'loud' is not a mapping of keys to values",
            ),
        ],
        ids=["word", "fraction", "choice", "boolean", "number", "bound", "empty-list", "mapping"],
    )
    def test_the_value_and_the_expectation_are_named(
        self, tmp_path: Path, registry: Registry, text: str, expected: str
    ) -> None:
        """The line names the value written and the kind of value the key takes."""
        assert config_error(tmp_path, text, registry) == [expected]

    def test_no_line_says_expected_something_else(self, tmp_path: Path, registry: Registry) -> None:
        """pydantic's "Input should be" never reaches the owner for the common mistakes."""
        lines = config_error(
            tmp_path,
            """\
            max_attempts: five
            poll: sometimes
            allow_duplicates: maybe
            platforms:
              preview: {enabled: true, max_posts: many}
            """,
            registry,
        )
        assert len(lines) == 4
        assert not [line for line in lines if "expected something else" in line]
        assert not [line for line in lines if "Input should" in line]

    def test_a_bad_list_item_is_not_also_called_too_short(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """A list of one bad chat is one problem (the chat), not also "too short"."""
        lines = config_error(
            tmp_path,
            """\
            platforms:
              telegram:
                enabled: true
                token: "123456789:AAHfakefakefakefakefakefakefakefake"
                chat_ids: [channel]
            """,
            registry,
        )
        assert len(lines) == 1
        assert lines[0].startswith("line 5: platforms.telegram.chat_ids[0]: expected @channelname")
        assert lines[0].endswith("(found 'channel')")


class TestUnknownKeys:
    """A key dropcast does not know is named, with the known key it is closest to."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "max_attempt: 3\n",
                "line 1: max_attempt: unknown key 'max_attempt' (did you mean 'max_attempts'?)",
            ),
            (
                "page:\n  folders: status\n",
                "line 2: page.folders: unknown key 'folders' (did you mean 'folder'?)",
            ),
            (
                "platforms:\n  preview: {enabled: true, max_post: 3}\n",
                "line 2: platforms.preview.max_post: unknown key 'max_post' "
                "(did you mean 'max_posts'?)",
            ),
            ("colour: red\n", "line 1: colour: unknown key 'colour' (a typo?)"),
        ],
        ids=["core", "nested", "platform", "nothing-close"],
    )
    def test_the_closest_known_key_is_suggested(
        self, tmp_path: Path, registry: Registry, text: str, expected: str
    ) -> None:
        """A typo gets "did you mean"; a key like no other gets no guess."""
        assert config_error(tmp_path, text, registry) == [expected]

    def test_an_unknown_keys_value_is_never_shown(self, tmp_path: Path, registry: Registry) -> None:
        """A mistyped key may hold a password: its value stays out of the message."""
        lines = config_error(
            tmp_path,
            """\
            platforms:
              telegram: {enabled: true, tokn: "hunter2-very-secret", chat_ids: ["@channel"]}
            """,
            registry,
        )
        assert "hunter2" not in "\n".join(lines)
        assert (
            "line 2: platforms.telegram.tokn: unknown key 'tokn' (did you mean 'token'?)" in lines
        )


class TestSecretsStayHidden:
    """A bad value that is or may be a secret is said to be wrong without being shown."""

    def test_a_secret_setting_is_hidden(self, tmp_path: Path, registry: Registry) -> None:
        """A SecretStr key (a bot token) given as a number is "(hidden)", not its digits."""
        lines = config_error(
            tmp_path,
            """\
            platforms:
              telegram: {enabled: true, token: 918273645, chat_ids: ["@channel"]}
            """,
            registry,
        )
        assert lines == ["line 2: platforms.telegram.token: (hidden) is not text"]

    def test_a_value_from_an_environment_variable_is_hidden(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """What `${VAR}` held may be a secret in any key, so it is not shown."""
        lines = config_error(
            tmp_path, "max_attempts: ${ATTEMPTS}\n", registry, {"ATTEMPTS": "hunter2secret"}
        )
        assert lines == ["line 1: max_attempts: (hidden) is not a whole number"]

    def test_a_value_from_a_file_is_hidden(self, tmp_path: Path, registry: Registry) -> None:
        """What `${file:...}` read is a secret by nature, so it is not shown."""
        (tmp_path / "secret.txt").write_text("s3cr3t-from-a-file\n", encoding="utf-8")
        lines = config_error(tmp_path, "poll: ${file:secret.txt}\n", registry)
        assert lines == ["line 1: poll: (hidden) is not one of: auto, always, never"]

    def test_a_list_holding_a_reference_is_hidden(self, tmp_path: Path, registry: Registry) -> None:
        """A whole list is hidden when one of its items came from a variable."""
        lines = config_error(
            tmp_path,
            "retry_delays: [1, '${DELAY}']\n",
            registry,
            {"DELAY": "hunter2secret"},
        )
        assert lines == ["line 1: retry_delays[1]: (hidden) is not a number"]


class TestMissingVariables:
    """An unset `${VAR}` is one problem, said once, not also a wrong value."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "max_attempts: ${ATTEMPTS}\n",
                "line 1: max_attempts: environment variable ATTEMPTS is not set",
            ),
            (
                "poll: ${POLL}\n",
                "line 1: poll: environment variable POLL is not set",
            ),
            (
                "platforms:\n  preview: {enabled: '${PREVIEW_ON}'}\n",
                "line 2: platforms.preview.enabled: environment variable PREVIEW_ON is not set",
            ),
            (
                "platforms:\n  preview: {enabled: true, max_posts: '${MAX_POSTS}'}\n",
                "line 2: platforms.preview.max_posts: environment variable MAX_POSTS is not set",
            ),
        ],
        ids=["core-number", "core-choice", "platform-switch", "platform-number"],
    )
    def test_a_missing_variable_is_reported_once(
        self, tmp_path: Path, registry: Registry, text: str, expected: str
    ) -> None:
        """The only line is the variable's: the text `${VAR}` is not then judged as a value."""
        assert config_error(tmp_path, text, registry) == [expected]


class TestYamlOpeners:
    """A bracket or quote never closed is reported on the line that opened it."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "inbox: x\nchats: [a, b\nmax_attempts: 2\n",
                "line 2: not valid YAML: the [ opened here (column 8) is never closed "
                "(at line 3: expected ',' or ']', but got ':')",
            ),
            (
                "inbox: x\nlog: {level: info\n\n\nmax_attempts: 2\n",
                "line 2: not valid YAML: the { opened here (column 6) is never closed "
                "(at line 5: expected ',' or '}', but got ':')",
            ),
            (
                'inbox: x\narchive: "done\nmax_attempts: 2\n',
                'line 2: not valid YAML: the " opened here (column 10) is never closed '
                "(the file ends inside it)",
            ),
            (
                "inbox: x\narchive: 'done\nmax_attempts: 2\n",
                "line 2: not valid YAML: the ' opened here (column 10) is never closed "
                "(the file ends inside it)",
            ),
            (
                "inbox: x\nchats: [a, b,\n",
                "line 2: not valid YAML: the [ opened here (column 8) is never closed "
                "(the file ends inside it)",
            ),
            (
                "caption: it's [draft]\nlog: {level: [info, debug]\n# a comment [\n",
                "line 2: not valid YAML: the { opened here (column 6) is never closed "
                "(the file ends inside it)",
            ),
        ],
        ids=["bracket", "brace", "double-quote", "single-quote", "trailing-comma", "nested"],
    )
    def test_the_opening_line_is_named(
        self, tmp_path: Path, registry: Registry, text: str, expected: str
    ) -> None:
        """Not the line where the parser noticed, which is the next key or the end."""
        assert config_error(tmp_path, text, registry) == [expected]

    def test_a_mistake_on_one_line_names_that_line(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """A bracket closed wrongly on its own line is still reported there, as pyyaml says."""
        lines = config_error(tmp_path, "inbox: x\nchats: [a, {b: c]\n", registry)
        assert lines == ["line 2: not valid YAML: expected ',' or '}', but got ']'"]
