"""The instagram section of config.yaml, `dropcast check --connect`, and a cheap disabled platform."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from daemon.cli import main
from daemon.config import ConfigError, load_config
from daemon.publishers.instagram.settings import InstagramSettings
from daemon.registry import Registry
from tests.fakes.instagram import (
    PASSWORD,
    UPLOAD_ENDPOINTS,
    FakeInstagram,
    instagram_publisher,
    make_post,
    offline_instagram,
)

SEED = "JBSWY3DPEHPK3PXP"


@pytest.fixture
def registry() -> Registry:
    return Registry.discover(entry_point_group=None)


def write_config(folder: Path, instagram: str) -> Path:
    """A config.yaml whose platforms section is `instagram:` with the given (indented) body."""
    path = folder / "config.yaml"
    body = textwrap.indent(textwrap.dedent(instagram).strip(), "    ")
    path.write_text(f"platforms:\n  instagram:\n{body}\n", encoding="utf-8")
    return path


def load_instagram(folder: Path, registry: Registry, body: str) -> InstagramSettings:
    config = load_config(write_config(folder, body), registry, environ={"PW": PASSWORD})
    settings = config.platforms["instagram"]
    assert isinstance(settings, InstagramSettings)
    return settings


def config_error(folder: Path, registry: Registry, body: str) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config(write_config(folder, body), registry, environ={"PW": PASSWORD})
    return str(raised.value)


MINIMAL = "enabled: true\nusername: me\npassword: ${PW}\n"


def test_defaults_are_the_careful_ones(tmp_path: Path, registry: Registry) -> None:
    """With only the account given, every limit has its documented default."""
    settings = load_instagram(tmp_path, registry, MINIMAL)
    assert settings.model_dump(exclude={"enabled", "username", "password"}) == {
        "totp_seed": None,
        "proxy": None,
        "delay_range": (1.0, 3.0),
        "fit": "pad",
        "pad_color": "white",
        "max_caption_chars": 2200,
        "max_hashtags": 30,
        "too_long": "truncate",
        "min_interval_seconds": 120.0,
        "max_posts_per_day": 10,
        "pause_minutes": 360.0,
        "request_timeout": 60.0,
        "transport": None,
    }


def test_the_secrets_are_redacted_everywhere(tmp_path: Path, registry: Registry) -> None:
    """password and totp_seed are secrets: the config hands them to the redactor."""
    body = MINIMAL + f"totp_seed: '{SEED}'\n"
    config = load_config(write_config(tmp_path, body), registry, environ={"PW": PASSWORD})
    assert set(config.secrets) == {PASSWORD, SEED}


@pytest.mark.parametrize(
    ("written", "kept"),
    [("'@Dropcast.Test'", "dropcast.test"), ("me_2", "me_2"), (" me ", "me")],
)
def test_username_is_normalized(
    tmp_path: Path, registry: Registry, written: str, kept: str
) -> None:
    """A leading @, capitals and spaces are dropped from the username."""
    settings = load_instagram(
        tmp_path, registry, f"enabled: true\nusername: {written}\npassword: x"
    )
    assert settings.username == kept


def test_totp_seed_may_be_written_with_spaces(tmp_path: Path, registry: Registry) -> None:
    """The key as authentication apps show it, in groups and lower case, is accepted."""
    settings = load_instagram(tmp_path, registry, MINIMAL + "totp_seed: 'jbsw y3dp ehpk 3pxp'")
    assert settings.totp_seed is not None
    assert settings.totp_seed.get_secret_value() == SEED


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        (
            "enabled: true\nusername: me@example.com\npassword: x",
            "username",
            "an Instagram username",
        ),
        ("enabled: true\nusername: me", "password", "required key is missing"),
        (MINIMAL + "delay_range: [3, 1]", "delay_range", "0 <= low <= high"),
        (MINIMAL + "pad_color: not-a-color", "pad_color", "a color such as white"),
        (MINIMAL + "fit: stretch", "fit", "'stretch' is not one of: pad, crop"),
        (
            MINIMAL + "max_caption_chars: 5000",
            "max_caption_chars",
            "5000 is too large: it must be at most 2200",
        ),
        (
            MINIMAL + "transport: carrier-pigeon",
            "transport",
            "'carrier-pigeon' is not one of: requests, curl, utls",
        ),
        (
            MINIMAL + "request_timeout: 0",
            "request_timeout",
            "0 is too small: it must be more than 0",
        ),
        (MINIMAL + "max_posts: 3", "max_posts", "unknown key"),
    ],
)
def test_invalid_settings_are_reported_by_key(
    tmp_path: Path, registry: Registry, body: str, key: str, words: str
) -> None:
    """Each invalid setting is named by its dotted key, with what was expected."""
    error = config_error(tmp_path, registry, body)
    assert f"platforms.instagram.{key}: " in error
    assert words in error


def test_an_invalid_totp_seed_is_reported_without_its_value(
    tmp_path: Path, registry: Registry
) -> None:
    """A totp_seed that is not base32 is an error that never repeats the secret."""
    error = config_error(tmp_path, registry, MINIMAL + "totp_seed: 'secret-1890'")
    assert "platforms.instagram.totp_seed" in error
    assert "letters A-Z and digits 2-7" in error
    assert "secret-1890" not in error.lower()


def test_the_platform_module_does_not_import_instagrapi() -> None:
    """Finding the platforms and building a disabled or idle instagram publisher loads no instagrapi."""
    code = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from daemon.publisher import PublisherContext
        from daemon.registry import Registry
        from daemon.publishers.instagram import InstagramPublisher, InstagramSettings
        Registry.discover()
        settings = InstagramSettings(enabled=True, username="me", password="pw")
        InstagramPublisher(settings, PublisherContext(Path("state")))
        print(sorted(m for m in ("instagrapi", "requests", "curl_cffi") if m in sys.modules))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeInstagram]:
    with offline_instagram(monkeypatch) as fake:
        yield fake


@pytest.fixture
def keep_logging_config() -> Iterator[None]:
    """`main` configures structlog for the process; put the test's configuration back after."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def connect_config(folder: Path) -> Path:
    body = MINIMAL + "transport: requests\ndelay_range: [0, 0]\nrequest_timeout: 5\n"
    return write_config(folder, body.replace("username: me", "username: dropcast.test"))


@pytest.mark.usefixtures("keep_logging_config")
def test_check_connect_logs_in_and_reports_the_account(
    tmp_path: Path,
    fake: FakeInstagram,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`dropcast check --connect` logs in and prints the account it reached."""
    monkeypatch.setenv("PW", PASSWORD)
    code = main(["--config", str(connect_config(tmp_path)), "check", "--connect"])
    assert code == 0
    assert "instagram: ok: account @dropcast.test" in capsys.readouterr().out
    assert "login" in fake.names


@pytest.mark.usefixtures("keep_logging_config")
def test_check_connect_reports_a_refused_login_and_exits_1(
    tmp_path: Path,
    fake: FakeInstagram,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When Instagram refuses the login, check --connect prints why and exits 1."""
    monkeypatch.setenv("PW", PASSWORD)
    fake.reply("login", 200, "bloks_empty.json")
    code = main(["--config", str(connect_config(tmp_path)), "check", "--connect"])
    output = capsys.readouterr().out
    assert code == 1
    assert "instagram: FAILED: InstagramCheckError: Instagram did not accept the login" in output
    assert PASSWORD not in output


async def test_check_connection_reuses_the_saved_session(
    tmp_path: Path, fake: FakeInstagram
) -> None:
    """With a saved session, the check asks for the account only: no login."""
    await instagram_publisher(tmp_path / "state").publish(make_post(tmp_path))
    fake.calls.clear()
    found = await instagram_publisher(tmp_path / "state").check_connection()
    assert found == "account @dropcast.test"
    assert fake.names == ["current_user"]


async def test_after_close_the_next_post_reuses_the_saved_session(
    tmp_path: Path, fake: FakeInstagram
) -> None:
    """close() lets the client go; a later post loads the saved session and does not log in."""
    publisher = instagram_publisher(tmp_path / "state")
    await publisher.publish(make_post(tmp_path, "first"))
    await publisher.close()
    fake.calls.clear()
    result = await publisher.publish(make_post(tmp_path, "second"))
    assert result.ok, result.error
    assert fake.names == list(UPLOAD_ENDPOINTS)
