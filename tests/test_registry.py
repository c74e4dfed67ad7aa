"""Finding publishers: one file per platform, third parties by entry point, no duplicate names."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.config import ConfigError, load_config
from daemon.post import read_post
from daemon.publisher import PublisherContext
from daemon.registry import Registry, RegistryError
from tests.conftest import archived, running_daemon, wait_for, write_config, write_post

ECHO_PUBLISHER = """
from __future__ import annotations

from pathlib import Path

from daemon.post import Post
from daemon.publisher import Publisher, PublishResult
from daemon.settings import PlatformSettings


class EchoSettings(PlatformSettings):
    log_file: str


class EchoPublisher(Publisher[EchoSettings]):
    platform_name = "{name}"
    settings_model = EchoSettings

    async def publish(self, post: Post) -> PublishResult:
        with Path(self.settings.log_file).open("a", encoding="utf-8") as log:
            log.write(post.stem + "\\n")
        return PublishResult(ok=True, remote_id="echo-" + post.stem)
"""


# A third party's platform with a retry declaration: its first call drops the connection.
FLAKY_PUBLISHER = """
from __future__ import annotations

from pathlib import Path

from daemon.post import Post
from daemon.publisher import Publisher, PublishResult, RetryAfter
from daemon.retry import GaveUpError
from daemon.settings import CallRetrySettings


class FlakySettings(CallRetrySettings):
    log_file: str


class FlakyPublisher(Publisher[FlakySettings]):
    platform_name = "flaky"
    settings_model = FlakySettings

    def retry_on(self, error: Exception) -> RetryAfter | None:
        return RetryAfter(0) if isinstance(error, ConnectionError) else None

    async def publish(self, post: Post) -> PublishResult:
        calls = []

        async def send() -> str:
            calls.append(post.stem)
            if len(calls) == 1:
                raise ConnectionError("the connection dropped")
            with Path(self.settings.log_file).open("a", encoding="utf-8") as log:
                log.write(post.stem + "\\n")
            return "flaky-" + post.stem

        try:
            remote_id, attempts = await self.call(send)
        except GaveUpError as failure:
            return PublishResult.failure(str(failure.error), attempts=failure.attempts)
        return PublishResult(ok=True, remote_id=remote_id, attempts=attempts)
"""


@pytest.fixture
def import_root(tmp_path: Path) -> Iterator[Path]:
    """A folder on sys.path for packages written during the test, removed again afterwards."""
    root = tmp_path / "site"
    root.mkdir()
    sys.path.insert(0, str(root))
    before = set(sys.modules)
    yield root
    sys.path.remove(str(root))
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write_package(root: Path, package: str, modules: dict[str, str]) -> None:
    (root / package).mkdir()
    (root / package / "__init__.py").write_text("", encoding="utf-8")
    for name, source in modules.items():
        (root / package / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")


def test_the_builtin_preview_platform_is_found() -> None:
    """The real registry finds the preview publisher in daemon/publishers/ without being told its name."""
    assert "preview" in Registry.discover().names


def test_each_builtin_platform_is_named_after_its_module() -> None:
    """The registry names a built-in platform by its module before importing it."""
    registry = Registry.discover(entry_point_group=None)
    assert registry.names == ["bluesky", "email", "instagram", "mastodon", "preview", "telegram"]
    for name in registry.names:
        assert registry[name].platform_name == name
        assert registry[name].__module__.split(".")[:3] == ["daemon", "publishers", name]


def test_a_platform_that_is_not_enabled_is_not_imported(tmp_path: Path) -> None:
    """With only preview enabled, the other built-in platforms' modules stay unloaded."""
    config = write_config(tmp_path, {"preview": {"enabled": True}, "email": {"enabled": False}})
    code = (
        "import sys; from pathlib import Path; from daemon.config import load_config; "
        "from daemon.platforms import ActivePlatforms; from daemon.registry import Registry; "
        "registry = Registry.discover(); "
        f"config = load_config(Path({str(config)!r}), registry); "
        "ActivePlatforms(registry, config); "
        "print(sorted(m for m in sys.modules if m.startswith('daemon.publishers.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.split() == ["['daemon.publishers.preview']"]


def test_a_builtin_platform_that_cannot_be_loaded_is_a_config_error(tmp_path: Path) -> None:
    """Enabling it (perhaps in a reload) names the platform; the daemon keeps running on the
    config it has."""
    registry = Registry({}, builtins=["missing"])  # no daemon/publishers/missing.py
    config = write_config(tmp_path, {"missing": {"enabled": True}})
    with pytest.raises(
        ConfigError, match=r"platforms\.missing: platform 'missing' could not be loaded"
    ):
        load_config(config, registry)
    assert "missing" in registry  # still known, so the next reload tries again


async def test_a_new_platform_is_one_new_file(tmp_path: Path, import_root: Path) -> None:
    """A publisher added as one file in a package is configured and called with no other change."""
    write_package(import_root, "extra_platforms", {"echo": ECHO_PUBLISHER.format(name="echo")})
    registry = Registry.discover(
        packages=("daemon.publishers", "extra_platforms"), entry_point_group=None
    )
    log_file = tmp_path / "echo.log"
    config = write_config(tmp_path, {"echo": {"enabled": True, "log_file": str(log_file)}})
    async with running_daemon(config, registry):
        write_post(tmp_path / "inbox", "hello")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    assert log_file.read_text(encoding="utf-8") == "hello\n"


def test_a_third_party_platform_registers_through_an_entry_point(import_root: Path) -> None:
    """A distribution declaring `dropcast.publishers` entry points adds its platform to the registry."""
    write_package(
        import_root, "thirdparty_echo", {"plugin": ECHO_PUBLISHER.format(name="thirdparty")}
    )
    install_distribution(
        import_root, "thirdparty_echo", "thirdparty = thirdparty_echo.plugin:EchoPublisher"
    )
    registry = Registry.discover()
    assert "thirdparty" in registry.names
    assert registry["thirdparty"].__module__ == "thirdparty_echo.plugin"


def install_distribution(root: Path, package: str, entry_points: str) -> None:
    """A distribution's metadata on sys.path, as `pip install` of a third party's package leaves it."""
    dist_info = root / f"{package}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[dropcast.publishers]\n{entry_points}\n", encoding="utf-8"
    )


async def test_a_third_party_platform_publishes_with_its_declared_retry(
    tmp_path: Path, import_root: Path
) -> None:
    """An entry-point platform is configured and called, and the core retries the call it declared transient."""
    write_package(import_root, "dropcast_flaky", {"platform": FLAKY_PUBLISHER})
    install_distribution(
        import_root, "dropcast_flaky", "flaky = dropcast_flaky.platform:FlakyPublisher"
    )
    log_file = tmp_path / "flaky.log"
    settings = {"enabled": True, "log_file": str(log_file), "retry_base_delay": 0}
    config = write_config(tmp_path, {"flaky": settings})
    async with running_daemon(config, Registry.discover()):
        write_post(tmp_path / "inbox", "hello")
        await wait_for(lambda: len(archived(tmp_path)) == 3, what="the archive")
    record = next(path for path in archived(tmp_path) if path.name.endswith(".result.json"))
    result = json.loads(record.read_text(encoding="utf-8"))["platforms"]["flaky"]
    assert (result["ok"], result["id"], result["attempts"]) == (True, "flaky-hello", 2)
    assert log_file.read_text(encoding="utf-8") == "hello\n"


async def test_a_platform_without_retries_gives_up_after_one_call(
    tmp_path: Path, import_root: Path
) -> None:
    """With `max_retries: 0` in its settings, the declared transient error ends the attempt at once."""
    write_package(import_root, "flaky_once", {"platform": FLAKY_PUBLISHER})
    registry = Registry.discover(packages=("flaky_once",), entry_point_group=None)
    publisher_class = registry["flaky"]
    settings = publisher_class.settings_model.model_validate(
        {"enabled": True, "log_file": str(tmp_path / "flaky.log"), "max_retries": 0}
    )
    publisher = publisher_class(settings, PublisherContext(tmp_path))
    (tmp_path / "drop").mkdir()
    image = write_post(tmp_path / "drop", "hello")
    result = await publisher.publish(read_post("hello", image, image.with_suffix(".txt")))
    assert (result.ok, result.error, result.attempts) == (False, "the connection dropped", 1)
    assert not (tmp_path / "flaky.log").exists()


def test_a_builtin_platform_may_be_a_package(import_root: Path) -> None:
    """A platform that grew into a package is found by its package's name, through its `__init__`."""
    write_package(import_root, "grown_platforms", {})
    package = import_root / "grown_platforms" / "echo"
    package.mkdir()
    (package / "publisher.py").write_text(
        textwrap.dedent(ECHO_PUBLISHER.format(name="echo")), encoding="utf-8"
    )
    (package / "__init__.py").write_text(
        "from grown_platforms.echo.publisher import EchoPublisher\n\n__all__ = ['EchoPublisher']\n",
        encoding="utf-8",
    )
    registry = Registry.discover(packages=("grown_platforms",), entry_point_group=None)
    assert registry.names == ["echo"]
    assert registry["echo"].__module__ == "grown_platforms.echo.publisher"


def test_two_publishers_with_one_name_are_an_error(import_root: Path) -> None:
    """A second publisher claiming `preview` stops start-up with a message naming both."""
    write_package(import_root, "clashing", {"copycat": ECHO_PUBLISHER.format(name="preview")})
    with pytest.raises(
        RegistryError,
        match=r"two publishers are named 'preview': PreviewPublisher .* and EchoPublisher",
    ):
        Registry.discover(packages=("daemon.publishers", "clashing"), entry_point_group=None)


def test_a_platform_section_is_validated_by_its_own_model(
    tmp_path: Path, import_root: Path
) -> None:
    """A missing key of a new platform's settings is reported under that platform's dotted path."""
    write_package(import_root, "more_platforms", {"echo": ECHO_PUBLISHER.format(name="echo")})
    registry = Registry.discover(packages=("more_platforms",), entry_point_group=None)
    config = write_config(tmp_path, {"echo": {"enabled": True}})
    with pytest.raises(Exception, match=r"platforms\.echo\.log_file: required key is missing"):
        load_config(config, registry)
