"""The alert rules: what calls for a message, and at most one per problem per quiet period."""

from __future__ import annotations

from pathlib import Path

from daemon.alerts.message import Alert
from daemon.alerts.rules import AlertRules
from daemon.alerts.settings import AlertSettings
from daemon.alerts.texts import Commands
from daemon.events import DeliveryFinished, PostConcluded
from daemon.ledger import DeliveryState
from daemon.publisher import PublishResult

COMMANDS = Commands(Path("/srv/dropcast/config.yaml"), Path("/srv/inbox"), Path("/srv/failed"))
DOWN = "could not connect to smtp.example.com:587 (Connection refused)"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rules(clock: Clock | None = None, **settings: float) -> AlertRules:
    return AlertRules(AlertSettings.model_validate(settings), COMMANDS, clock or Clock())


def refused(post: str, platform: str = "email", error: str = DOWN) -> DeliveryFinished:
    return DeliveryFinished(post, platform, DeliveryState.FAILED, PublishResult.failure(error))


def sent(post: str, platform: str = "email") -> DeliveryFinished:
    return DeliveryFinished(post, platform, DeliveryState.SENT, PublishResult(ok=True))


def feed(alert_rules: AlertRules, *events: DeliveryFinished | PostConcluded) -> list[Alert]:
    return [alert for event in events for alert in alert_rules.on_event(event)]


class TestFailingInARow:
    def test_the_nth_post_in_a_row_a_platform_refused_raises_one_alert(self) -> None:
        """Three posts refused one after the other: one alert, at the third, naming all three."""
        alert_rules = rules()
        assert feed(alert_rules, refused("walk"), refused("beach")) == []
        [alert] = feed(alert_rules, refused("cliff"))
        assert alert.problem == "email failing"
        assert "walk, beach, cliff" in alert.body
        assert DOWN in alert.body
        assert "dropcast --config /srv/dropcast/config.yaml retry cliff" in alert.body

    def test_a_post_tried_again_counts_once(self) -> None:
        """One post refused on each of its attempts is one post, not three."""
        assert feed(rules(), refused("walk"), refused("walk"), refused("walk")) == []

    def test_a_sent_post_starts_the_count_again(self) -> None:
        """Two refusals, a success, two refusals: never three in a row, so no alert."""
        alert_rules = rules()
        events = [refused("a"), refused("b"), sent("c"), refused("d"), refused("e")]
        assert feed(alert_rules, *events) == []

    def test_each_platform_is_counted_on_its_own(self) -> None:
        """Refusals spread over two platforms do not add up."""
        events = [refused("a"), refused("b", "telegram"), refused("c"), refused("d", "telegram")]
        assert feed(rules(), *events) == []

    def test_after_failures_sets_the_count(self) -> None:
        """after_failures: 1 alerts at the first refusal."""
        assert len(feed(rules(after_failures=1), refused("walk"))) == 1


class TestQuietPeriod:
    def test_fifty_failing_posts_give_one_alert(self) -> None:
        """No storm: 50 refused posts within the quiet period give one message."""
        alerts = feed(rules(), *(refused(f"post{n}") for n in range(50)))
        assert len(alerts) == 1

    def test_what_was_held_back_goes_when_the_period_ends(self) -> None:
        """Posts refused within the period are named in one message once it ends."""
        clock = Clock()
        alert_rules = rules(clock)
        feed(alert_rules, refused("a"), refused("b"), refused("c"), refused("d"), refused("e"))
        assert alert_rules.next_due() == clock.now + 3600
        clock.now += 3599
        assert alert_rules.due() == []
        clock.now += 1
        [reminder] = alert_rules.due()
        assert "the last 5 posts: a, b, c, d, e." in reminder.body
        assert reminder.subject == "email is failing: 5 posts in a row"
        assert alert_rules.next_due() is None

    def test_quiet_minutes_sets_the_period(self) -> None:
        """quiet_minutes: 0 lets every failure through."""
        alerts = feed(rules(quiet_minutes=0), *(refused(f"post{n}") for n in range(5)))
        assert len(alerts) == 3  # the 3rd, 4th and 5th in a row

    def test_a_held_back_alert_is_dropped_when_the_platform_recovers(self) -> None:
        """Failing again soon after a recovery is held; recovering again drops it, untold."""
        clock = Clock()
        alert_rules = rules(clock)
        assert len(feed(alert_rules, refused("a"), refused("b"), refused("c"))) == 1
        assert [a.problem for a in feed(alert_rules, sent("d"))] == ["email recovered"]
        clock.now += 60
        assert feed(alert_rules, refused("e"), refused("f"), refused("g")) == []  # held
        assert feed(alert_rules, sent("h")) == []  # never told of it: no news of its end
        clock.now += 3600
        assert alert_rules.due() == []


class TestRecovered:
    def test_a_platform_the_owner_was_told_about_recovers_once(self) -> None:
        """After the failing alert, the first post sent says it works again; the next says nothing."""
        alert_rules = rules()
        feed(alert_rules, refused("a"), refused("b"), refused("c"))
        [alert] = feed(alert_rules, sent("d"))
        assert (alert.problem, alert.subject) == ("email recovered", "email works again")
        assert "email took d" in alert.body
        assert feed(alert_rules, sent("e")) == []

    def test_no_recovery_without_an_alert_before(self) -> None:
        """Two refusals then a success: the owner heard nothing, so hears nothing now."""
        assert feed(rules(), refused("a"), refused("b"), sent("c")) == []


class TestNeedsOwner:
    def test_a_refused_login_alerts_at_once_and_once(self) -> None:
        """A login refused alerts at the first post, not again for the next ones."""
        login = "Telegram does not accept the bot token (401 Unauthorized): check the token"
        result = PublishResult.owner_must_act(login)
        event = DeliveryFinished("walk", "telegram", DeliveryState.FAILED, result)
        alert_rules = rules()
        [alert] = alert_rules.on_event(event)
        assert alert.problem == "telegram needs the owner"
        assert login in alert.body
        assert "check --connect" in alert.body
        later = [
            DeliveryFinished(f"p{n}", "telegram", DeliveryState.FAILED, result) for n in range(5)
        ]
        assert feed(alert_rules, *later) == []  # nor a "failing" alert beside it
        assert [a.problem for a in feed(alert_rules, sent("q", "telegram"))] == [
            "telegram recovered"
        ]


class TestUnknown:
    def test_an_unknown_delivery_says_what_to_check_and_the_command(self) -> None:
        """No answer came: the owner is told to look, and given the retry command."""
        result = PublishResult.lost("Telegram did not answer within 30 s")
        event = DeliveryFinished("sunset beach", "telegram", DeliveryState.UNKNOWN, result)
        [alert] = rules().on_event(event)
        assert "sunset beach" in alert.subject
        assert "look on telegram" in alert.body
        assert "dropcast --config /srv/dropcast/config.yaml retry 'sunset beach'" in alert.body


class TestPostFailed:
    def test_a_post_filed_in_failed_is_told_with_its_reason(self) -> None:
        """A post no platform took says so, why, and how to send it again."""
        event = PostConcluded("walk", "failed", error="the image is not an image")
        [alert] = rules().on_event(event)
        assert alert.subject == "walk could not be published anywhere"
        assert "walk: the image is not an image" in alert.body
        assert "from /srv/failed back into /srv/inbox" in alert.body

    def test_a_post_waiting_to_be_retried_is_no_alert(self) -> None:
        """ "retrying" is the normal way of things; the platform's own rule tells of trouble."""
        assert rules().on_event(PostConcluded("walk", "retrying", attempts=1)) == []
