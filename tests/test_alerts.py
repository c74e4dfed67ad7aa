"""Alert destinations and the alert service: real local servers, no secret in any word."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme
from aiohttp import web
from structlog.testing import capture_logs

from daemon.alerts.message import Alert, AlertSendError
from daemon.alerts.service import AlertService
from daemon.alerts.settings import EmailAlertSettings, TelegramAlertSettings
from daemon.alerts.to_apprise import AppriseAlerts
from daemon.alerts.to_email import EmailAlerts
from daemon.alerts.to_telegram import TelegramAlerts
from daemon.config import ApplicationConfig, ConfigError, load_config
from daemon.events import DeliveryFinished, PostConcluded
from daemon.ledger import DeliveryState
from daemon.publisher import PublishResult
from daemon.registry import Registry
from tests.conftest import wait_for, write_config
from tests.fakes.loopback import served
from tests.fakes.smtp_server import Behaviour, FakeSMTPServer
from tests.fakes.telegram_api import TOKEN, FakeTelegram, fake_telegram

ALERT = Alert("email failing", "email is failing: 3 posts in a row", "What to do: fix it.")
PASSWORD = "alert-pass-9f3b2c"
OWNER = 424242


def telegram_settings(url: str, token: str = TOKEN, **more: Any) -> TelegramAlertSettings:
    return TelegramAlertSettings(token=token, chat_id=OWNER, api_server=url, **more)


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with fake_telegram() as fake:
        yield fake


@pytest.fixture
def ca(tmp_path: Path) -> trustme.CA:
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    return authority


def email_settings(tmp_path: Path, port: int, **more: Any) -> EmailAlertSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "username": "alerts@example.com",
        "password": PASSWORD,
        "sender": "dropcast@example.com",
        "to": "owner@example.com",
        "ca_file": tmp_path / "ca.pem",
        "timeout": 5,
        **more,
    }
    return EmailAlertSettings.model_validate(values)


def smtp_server(port: int, ca: trustme.CA, **behaviour: Any) -> FakeSMTPServer:
    return FakeSMTPServer(
        port,
        security="starttls",
        certificate=ca.issue_cert("127.0.0.1"),
        behaviour=Behaviour(users={"alerts@example.com": PASSWORD}, **behaviour),
    )


class TestTelegram:
    async def test_an_alert_arrives_in_the_owner_chat_as_plain_text(
        self, telegram: FakeTelegram
    ) -> None:
        """sendMessage to the owner's chat, subject and body, no markup to trip on."""
        await TelegramAlerts(telegram_settings(telegram.url)).send(ALERT)
        [message] = telegram.sent("sendMessage", str(OWNER))
        assert message.text == ALERT.text
        assert "parse_mode" not in message.fields

    async def test_a_refused_token_says_what_to_fix_and_never_the_token(
        self, telegram: FakeTelegram
    ) -> None:
        """A wrong token gets Telegram's 401 and the advice; the token is in no word of it."""
        wrong = "987654321:AAH-another-token-for-tests-abcdefgh"
        with pytest.raises(AlertSendError) as raised:
            await TelegramAlerts(telegram_settings(telegram.url, wrong)).send(ALERT)
        assert "401 Unauthorized" in str(raised.value)
        assert "@BotFather" in str(raised.value)
        assert wrong not in str(raised.value)

    async def test_a_server_not_reached_is_told_without_the_url(self, free_tcp_port: int) -> None:
        """Nothing listening: the error names the server and the kind, not the URL with the token."""
        url = f"http://127.0.0.1:{free_tcp_port}"
        with pytest.raises(AlertSendError) as raised:
            await TelegramAlerts(telegram_settings(url)).send(ALERT)
        assert str(raised.value).startswith(f"could not reach {url}: ClientConnectorError")
        assert TOKEN not in str(raised.value)
        assert raised.value.__suppress_context__


class TestEmail:
    async def test_an_alert_is_mailed_over_verified_starttls_with_the_login(
        self, tmp_path: Path, free_tcp_port: int, ca: trustme.CA
    ) -> None:
        """The alert arrives at the owner's address, encrypted and logged in."""
        with smtp_server(free_tcp_port, ca) as server:
            await EmailAlerts(email_settings(tmp_path, free_tcp_port)).send(ALERT)
        [received] = server.received
        assert (received.tls, received.login) == (True, "alerts@example.com")
        assert received.rcpt_tos == ("owner@example.com",)
        message = received.parsed()
        assert message["Subject"] == f"dropcast: {ALERT.subject}"
        body = message.get_body(("plain",))
        assert body is not None
        assert body.get_content() == ALERT.body + "\n"

    async def test_a_refused_login_never_quotes_the_server_reply(
        self, tmp_path: Path, free_tcp_port: int, ca: trustme.CA
    ) -> None:
        """A server that quotes the AUTH argument back: neither the password nor its base64 shows."""
        settings = email_settings(tmp_path, free_tcp_port, password="not-the-password-77")
        with (
            smtp_server(free_tcp_port, ca, echo_auth=True) as server,
            pytest.raises(AlertSendError) as raised,
        ):
            await EmailAlerts(settings).send(ALERT)
        assert server.echoed  # it did quote it
        said = str(raised.value)
        assert "refused the login of alerts@example.com (535)" in said
        assert "not-the-password-77" not in said
        assert not any(echo in said for echo in server.echoed)
        assert base64.b64encode(b"not-the-password-77").decode()[:12] not in said

    async def test_an_unverified_certificate_is_refused(
        self, tmp_path: Path, free_tcp_port: int, ca: trustme.CA
    ) -> None:
        """Without the private CA the certificate cannot be verified: nothing is sent."""
        settings = email_settings(tmp_path, free_tcp_port, ca_file=None)
        with (
            smtp_server(free_tcp_port, ca) as server,
            pytest.raises(AlertSendError, match="could not be verified"),
        ):
            await EmailAlerts(settings).send(ALERT)
        assert server.received == []


@asynccontextmanager
async def json_endpoint(status: int = 200) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP endpoint for Apprise's json:// URLs; yields its host:port and what it got."""
    got: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        got.append(json.loads(await request.read()))
        return web.json_response({}, status=status)

    app = web.Application()
    app.router.add_post("/{path:.*}", receive)
    async with served(app) as url:
        yield url.removeprefix("http://"), got


class TestApprise:
    async def test_an_alert_reaches_a_json_endpoint(self) -> None:
        """Apprise's json:// carries the subject as the title and the body."""
        async with json_endpoint() as (where, got):
            await AppriseAlerts(f"json://{where}/hooks/k3y-of-the-hook").send(ALERT)
        [payload] = got
        assert (payload["title"], payload["message"]) == (ALERT.subject, ALERT.body)

    async def test_a_refusal_hides_every_piece_of_the_url(self) -> None:
        """The endpoint answers 500: the error says so and holds no piece of the URL."""
        async with json_endpoint(status=500) as (where, _):
            url = f"json://owner:hunter2-pass@{where}/hooks/k3y-of-the-hook"
            with pytest.raises(AlertSendError) as raised:
                await AppriseAlerts(url).send(ALERT)
        said = str(raised.value)
        assert said.startswith("Apprise could not deliver to json://")
        assert "hunter2-pass" not in said
        assert "k3y-of-the-hook" not in said


def config_with_alerts(tmp_path: Path, alerts: dict[str, Any]) -> Path:
    return write_config(tmp_path, {"recording": {"enabled": True}}, alerts=alerts)


class TestSettings:
    def test_every_alert_secret_is_kept_out_of_logs(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """The bot token, the SMTP password and the Apprise URL are all secrets of the config."""
        apprise_url = "json://127.0.0.1:9/hooks/k3y-of-the-hook"
        alerts = {
            "to": [
                {"telegram": {"token": TOKEN, "chat_id": OWNER}},
                {
                    "email": {
                        "host": "smtp.example.com",
                        "username": "me@example.com",
                        "password": PASSWORD,
                        "sender": "me@example.com",
                        "to": "me@example.com",
                    }
                },
                {"apprise": apprise_url},
            ]
        }
        config = load_config(config_with_alerts(tmp_path, alerts), registry, {})
        assert {TOKEN, PASSWORD, apprise_url} <= set(config.secrets)

    def test_an_entry_must_be_exactly_one_kind(self, tmp_path: Path, registry: Registry) -> None:
        """An entry with telegram and email both is an error naming the key."""
        entry = {"telegram": {"token": TOKEN, "chat_id": 1}, "apprise": "json://127.0.0.1:9/"}
        with pytest.raises(ConfigError) as raised:
            load_config(config_with_alerts(tmp_path, {"to": [entry]}), registry, {})
        assert "alerts.to[0]" in str(raised.value) or "alerts.to.0" in str(raised.value)
        assert "this one has telegram, apprise" in str(raised.value)

    def test_an_unknown_apprise_url_is_refused_without_showing_it(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        """A scheme Apprise does not know: the error gives the scheme only."""
        alerts = {"to": [{"apprise": "nosuchservice://s3cret-key@example.com"}]}
        with pytest.raises(ConfigError) as raised:
            load_config(config_with_alerts(tmp_path, alerts), registry, {})
        assert "Apprise does not know this URL (it begins nosuchservice://)" in str(raised.value)
        assert "s3cret-key" not in str(raised.value)

    def test_without_apprise_installed_the_error_says_how_to_install_it(
        self, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An Apprise URL without the library: pip install 'dropcast[apprise]'."""
        monkeypatch.setitem(sys.modules, "apprise", None)  # as if it were not installed
        alerts = {"to": [{"apprise": "json://127.0.0.1:9/"}]}
        with pytest.raises(ConfigError, match=r"pip install 'dropcast\[apprise\]'"):
            load_config(config_with_alerts(tmp_path, alerts), registry, {})


def service_config(tmp_path: Path, registry: Registry, alerts: dict[str, Any]) -> ApplicationConfig:
    return load_config(config_with_alerts(tmp_path, alerts), registry, {})


def telegram_entry(url: str, **more: Any) -> dict[str, Any]:
    return {"telegram": {"token": TOKEN, "chat_id": OWNER, "api_server": url, **more}}


def failed_post(post: str) -> PostConcluded:
    return PostConcluded(post, "failed", error="the image is not an image")


class TestService:
    async def test_a_slow_destination_does_not_hold_up_the_others(
        self,
        tmp_path: Path,
        registry: Registry,
        telegram: FakeTelegram,
        free_tcp_port: int,
        ca: trustme.CA,
    ) -> None:
        """Telegram never answers: it times out and is logged; the e-mail goes all the same."""
        telegram.slow(60)
        email = email_settings(tmp_path, free_tcp_port).model_dump(mode="json")
        email["password"] = PASSWORD
        alerts = {"to": [telegram_entry(telegram.url, timeout=0.5), {"email": email}]}
        service = AlertService(service_config(tmp_path, registry, alerts))
        with smtp_server(free_tcp_port, ca) as server, capture_logs() as logs:
            async with anyio.create_task_group() as group:
                group.start_soon(service.run)
                service.notify(failed_post("walk"))
                await wait_for(lambda: any(e["event"] == "alert.send_failed" for e in logs))
                group.cancel_scope.cancel()
        assert len(server.received) == 1
        [failed] = [e for e in logs if e["event"] == "alert.send_failed"]
        assert failed["to"] == f"telegram chat {OWNER}"
        assert failed["error"] == "no answer within 0.5 s"

    async def test_notify_never_waits_and_a_full_queue_drops_with_a_log_line(
        self, tmp_path: Path, registry: Registry, telegram: FakeTelegram
    ) -> None:
        """With the sender not running, the queue fills to its bound; the next is dropped, logged."""
        alerts = {"to": [telegram_entry(telegram.url)], "queue_size": 2, "quiet_minutes": 0}
        service = AlertService(service_config(tmp_path, registry, alerts))
        with capture_logs() as logs:
            for name in ("a", "b", "c"):
                service.notify(failed_post(name))
        assert [e["event"] for e in logs] == ["alert.dropped"]

    async def test_alerts_queued_at_shutdown_are_flushed(
        self, tmp_path: Path, registry: Registry, telegram: FakeTelegram
    ) -> None:
        """Cancelled with alerts queued: they still go, within the short flush."""
        alerts = {"to": [telegram_entry(telegram.url)], "quiet_minutes": 0}
        service = AlertService(service_config(tmp_path, registry, alerts))
        async with anyio.create_task_group() as group:
            group.start_soon(service.run)
            group.cancel_scope.cancel()  # as the daemon does once the last post ended
            service.notify(failed_post("walk"))
            service.notify(failed_post("beach"))
        subjects = [(r.text or "").split("\n")[0] for r in telegram.sent("sendMessage")]
        assert subjects == [
            "walk could not be published anywhere",
            "beach could not be published anywhere",
        ]

    async def test_a_refused_login_alert_goes_at_once_with_no_secret_in_the_log(
        self, tmp_path: Path, registry: Registry, telegram: FakeTelegram
    ) -> None:
        """A platform's login refused alerts at the first post; a failing send logs no token."""
        wrong = "987654321:AAH-another-token-for-tests-abcdefgh"
        alerts = {
            "to": [{"telegram": {"token": wrong, "chat_id": OWNER, "api_server": telegram.url}}]
        }
        service = AlertService(service_config(tmp_path, registry, alerts))
        result = PublishResult.owner_must_act("Instagram wants to confirm it is you")
        with capture_logs() as logs:
            async with anyio.create_task_group() as group:
                group.start_soon(service.run)
                service.notify(DeliveryFinished("walk", "instagram", DeliveryState.FAILED, result))
                await wait_for(lambda: logs)
                group.cancel_scope.cancel()
        [failed] = logs
        assert failed["event"] == "alert.send_failed"
        assert failed["problem"] == "instagram needs the owner"
        assert wrong not in json.dumps(failed)
        assert [r.token for r in telegram.requests] == [wrong]  # it was tried, with that token
