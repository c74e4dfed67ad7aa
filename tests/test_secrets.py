"""Secret values never reach the output: the `Redactor` and the structlog redaction processor."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import structlog

from daemon.logging import configure_logging, redact_secrets
from daemon.secrets import REDACTED, REDACTOR, Redactor

SECRET = "hunter2-s3cr3t-token"


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Leave the process-wide redactor as empty as each test found it."""
    yield
    REDACTOR.replace_secrets([])


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Captured stdout; structlog's global set-up is undone after the test.

    Each test calls `configure_logging` itself: structlog binds the stdout of that moment,
    and capsys swaps stdout between a fixture's set-up and the test's body.
    """
    yield capsys
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def output_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every line written to stdout so far, each parsed as one JSON object."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


# --- Redactor -----------------------------------------------------------------------------


def test_new_redactor_leaves_text_alone() -> None:
    """A redactor that knows no secrets returns its input unchanged."""
    assert Redactor().redact(f"token {SECRET}") == f"token {SECRET}"


def test_redactor_replaces_every_occurrence() -> None:
    """Each occurrence of a known secret becomes the redaction marker."""
    redactor = Redactor()
    redactor.replace_secrets([SECRET])

    assert redactor.redact(f"a {SECRET} b {SECRET}{SECRET}") == (
        f"a {REDACTED} b {REDACTED}{REDACTED}"
    )


def test_redactor_leaves_other_text_alone() -> None:
    """Text that holds no secret passes through exactly."""
    redactor = Redactor()
    redactor.replace_secrets([SECRET])

    assert redactor.redact("hunter2 is not the whole secret") == "hunter2 is not the whole secret"


def test_redactor_hides_longer_secret_whole_when_one_contains_another() -> None:
    """A secret that contains a shorter one is replaced whole, leaving no fragment behind."""
    redactor = Redactor()
    redactor.replace_secrets(["abc", "abcdef-long"])

    assert redactor.redact("abcdef-long and abc") == f"{REDACTED} and {REDACTED}"


def test_redactor_treats_secrets_as_plain_text_not_patterns() -> None:
    """A secret full of regex characters is matched literally."""
    redactor = Redactor()
    redactor.replace_secrets(["p@ss.w*rd(1)?"])

    assert redactor.redact("pXss.w*rd(1)? p@ss.w*rd(1)?") == f"pXss.w*rd(1)? {REDACTED}"


def test_redactor_ignores_empty_secrets() -> None:
    """An empty secret (an unset optional password) does not redact between every character."""
    redactor = Redactor()
    redactor.replace_secrets(["", SECRET])

    assert redactor.redact("plain text") == "plain text"


def test_replace_secrets_forgets_the_old_ones() -> None:
    """`replace_secrets` makes the new values the only ones hidden."""
    redactor = Redactor()
    redactor.replace_secrets(["old-secret"])
    redactor.replace_secrets(["new-secret"])

    assert redactor.redact("old-secret new-secret") == f"old-secret {REDACTED}"


def test_add_secrets_keeps_the_old_ones() -> None:
    """`add_secrets` hides the new values as well as those already known."""
    redactor = Redactor()
    redactor.replace_secrets(["old-secret"])
    redactor.add_secrets(["new-secret", "old-secret"])

    assert redactor.redact("old-secret new-secret") == f"{REDACTED} {REDACTED}"


# --- the redact_secrets processor ---------------------------------------------------------


def test_processor_redacts_top_level_strings_and_event_name() -> None:
    """Every string value in the event, the event name included, is redacted."""
    REDACTOR.replace_secrets([SECRET])

    event = redact_secrets(None, "info", {"event": f"sent {SECRET}", "error": f"401 {SECRET}"})

    assert event == {"event": f"sent {REDACTED}", "error": f"401 {REDACTED}"}


def test_processor_redacts_nested_values() -> None:
    """Strings inside dicts, lists and tuples, at any depth, are redacted too."""
    REDACTOR.replace_secrets([SECRET])
    event = {
        "event": "platform.failed",
        "request": {"headers": {"Authorization": f"Bearer {SECRET}"}, "tries": [1, SECRET]},
        "urls": (f"https://api.example/bot{SECRET}/send", "https://example.com"),
    }

    assert redact_secrets(None, "error", event) == {
        "event": "platform.failed",
        "request": {"headers": {"Authorization": f"Bearer {REDACTED}"}, "tries": [1, REDACTED]},
        "urls": [f"https://api.example/bot{REDACTED}/send", "https://example.com"],
    }


def test_processor_passes_non_strings_through() -> None:
    """Numbers, booleans and None are left exactly as they were."""
    REDACTOR.replace_secrets([SECRET, "42"])
    event = {"event": "post.published", "attempts": 42, "ok": True, "url": None, "ms": 1.5}

    assert redact_secrets(None, "info", dict(event)) == event


def test_processor_does_nothing_without_secrets() -> None:
    """With no secret registered, an event comes out equal to how it went in."""
    event = {"event": "daemon.started", "platforms": ["preview"], "detail": {"inbox": "/srv"}}

    assert redact_secrets(None, "info", dict(event)) == event


# --- configured logging, end to end -------------------------------------------------------


def test_log_output_is_one_json_object_per_line(json_logs: pytest.CaptureFixture[str]) -> None:
    """Each event is written as one JSON line with its name, level, time and fields."""
    configure_logging("info", "json")
    log = structlog.get_logger()

    log.info("post.published", post="sunset", attempts=1)
    log.warning("post.failed", post="rain")

    lines = output_lines(json_logs)
    assert [(line["event"], line["level"], line["post"]) for line in lines] == [
        ("post.published", "info", "sunset"),
        ("post.failed", "warning", "rain"),
    ]
    assert lines[0]["attempts"] == 1
    assert all(line["timestamp"].endswith("Z") for line in lines)


def test_log_below_the_configured_level_is_dropped(json_logs: pytest.CaptureFixture[str]) -> None:
    """At level info, debug events are not written."""
    configure_logging("info", "json")
    log = structlog.get_logger()

    log.debug("watcher.tick")
    log.info("watcher.started")

    assert [line["event"] for line in output_lines(json_logs)] == ["watcher.started"]


def test_auto_format_writes_json_when_stdout_is_not_a_terminal(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    """`format: auto` picks JSON lines when stdout is captured (as under journald or Docker)."""
    configure_logging("info", "auto")

    structlog.get_logger().info("daemon.started")

    assert output_lines(json_logs)[0]["event"] == "daemon.started"


def test_secret_in_event_field_never_reaches_output(json_logs: pytest.CaptureFixture[str]) -> None:
    """A registered secret inside an event's fields is written as the redaction marker."""
    REDACTOR.replace_secrets([SECRET])
    configure_logging("info", "json")
    log = structlog.get_logger()

    log.error("platform.failed", error=f"401 for token {SECRET}", detail={"sent": [SECRET]})

    out = json_logs.readouterr().out
    assert SECRET not in out
    line = json.loads(out)
    assert line["error"] == f"401 for token {REDACTED}"
    assert line["detail"] == {"sent": [REDACTED]}


def test_secret_in_bound_context_never_reaches_output(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    """A secret bound as context variable is redacted like any other field."""
    configure_logging("info", "json")
    REDACTOR.replace_secrets([SECRET])
    structlog.contextvars.bind_contextvars(platform="telegram", url=f"/bot{SECRET}/send")

    structlog.get_logger().info("platform.attempted")

    out = json_logs.readouterr().out
    assert SECRET not in out
    assert json.loads(out)["url"] == f"/bot{REDACTED}/send"


def test_secret_in_exception_text_never_reaches_output(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    """`log.exception` writes the traceback with the secret in the exception's text redacted."""
    REDACTOR.replace_secrets([SECRET])
    configure_logging("info", "json")
    log = structlog.get_logger()

    try:
        raise RuntimeError(f"login refused for password {SECRET}")
    except RuntimeError:
        log.exception("platform.crashed", platform="instagram")

    out = json_logs.readouterr().out
    assert SECRET not in out
    line = json.loads(out)
    assert line["event"] == "platform.crashed"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert f"RuntimeError: login refused for password {REDACTED}" in line["exception"]


def test_secret_added_after_configuring_is_redacted(json_logs: pytest.CaptureFixture[str]) -> None:
    """Secrets registered after logging is set up (a config reload) are hidden too."""
    configure_logging("info", "json")
    log = structlog.get_logger()
    REDACTOR.add_secrets([SECRET])

    log.info("config.reloaded", note=SECRET)

    out = json_logs.readouterr().out
    assert SECRET not in out
    assert json.loads(out)["note"] == REDACTED


def test_secret_inside_an_exception_object_field_never_reaches_output(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    """An exception passed as a field value (`error=exc`) has the secret in its text hidden."""
    configure_logging("info", "json")
    REDACTOR.replace_secrets([SECRET])

    structlog.get_logger().error("platform.failed", error=RuntimeError(f"bad token {SECRET}"))

    assert SECRET not in json_logs.readouterr().out


# --- the forms a secret travels in --------------------------------------------------------

# A slash, a plus, a space and non-ASCII letters, so that every encoding differs.
TRAVELLER = "Sm0ke & mirrors/ünï+code?"


def base64_forms(data: bytes) -> list[str]:
    """`data` in base64 as servers and libraries write it: either alphabet, padded or not."""
    forms = [base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()]
    return forms + [form.rstrip("=") for form in forms]


@pytest.mark.parametrize(
    "blob",
    [
        TRAVELLER.encode(),
        b"\0me@example.com\0" + TRAVELLER.encode(),
        b"me@example.com\0me@example.com\0" + TRAVELLER.encode(),
        b"x" + TRAVELLER.encode() + b" and after",
        b"xy" + TRAVELLER.encode(),
    ],
    ids=["alone", "auth-plain", "auth-plain-authzid", "offset-1", "offset-2"],
)
def test_redactor_hides_the_secret_in_base64_wherever_it_sits(blob: bytes) -> None:
    """The secret's base64, alone or inside a longer blob (AUTH PLAIN), goes whole in every spelling."""
    redactor = Redactor()
    redactor.replace_secrets([TRAVELLER])

    for encoded in base64_forms(blob):
        assert redactor.redact(f"535 5.7.8 no: {encoded}.") == f"535 5.7.8 no: {REDACTED}."


def test_redactor_hides_the_secret_url_encoded_and_escaped() -> None:
    """quote, quote_plus (either hex case), JSON and repr escapes of the secret are hidden."""
    redactor = Redactor()
    redactor.replace_secrets([TRAVELLER])
    forms = [
        quote(TRAVELLER, safe=""),
        quote(TRAVELLER),
        quote_plus(TRAVELLER),
        re.sub("%[0-9A-F]{2}", lambda hexed: hexed.group(0).lower(), quote_plus(TRAVELLER)),
        json.dumps(TRAVELLER)[1:-1],
        repr(TRAVELLER)[1:-1],
    ]

    for form in forms:
        assert redactor.redact(f"url ?password={form}&x=1") == f"url ?password={REDACTED}&x=1"


def test_redactor_leaves_other_base64_alone() -> None:
    """Base64 of anything but a secret, and the login alone, pass through untouched."""
    redactor = Redactor()
    redactor.replace_secrets([TRAVELLER])
    text = "AUTH LOGIN bWVAZXhhbXBsZS5jb20= then aGVsbG8gd29ybGQ= and cGFzcw"

    assert redactor.redact(text) == text


def test_secret_in_base64_never_reaches_the_log(json_logs: pytest.CaptureFixture[str]) -> None:
    """A server's reply quoting AUTH PLAIN's argument is written with that argument hidden."""
    REDACTOR.replace_secrets([TRAVELLER])
    configure_logging("info", "json")
    quoted = base64.b64encode(b"\0me\0" + TRAVELLER.encode()).decode()

    structlog.get_logger().error("platform.failed", error=f"535 5.7.8 bad {quoted}")

    out = json_logs.readouterr().out
    assert quoted not in out
    assert json.loads(out)["error"] == f"535 5.7.8 bad {REDACTED}"
