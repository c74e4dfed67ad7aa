"""What an instagrapi (or network) error means for the owner: the words, a pause, or a stop.

instagrapi's own messages speak to programmers ("configure challenge_code_handler"); these
say what happened to the account and what to do about it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

_MAX_DETAIL = 200


class LoginFailedError(Exception):
    """Raised by `InstagramSession` when logging in fails; `__cause__` is the library's error."""


class NoAnswerError(Exception):
    """A request went out and its answer was lost (an HTTP 408, an answer cut off).

    Raised in place of instagrapi's `ClientRequestTimeout` and `ClientIncompleteReadError`,
    which its `private_request` answers by sending the request again.
    """


@dataclass(frozen=True)
class Failure:
    """An expected failure: its message, and whether Instagram must be paused or login stopped."""

    message: str
    pause: bool = False  # stop all requests for pause_minutes
    stop_login: bool = False  # do not log in again until the settings change
    needs_owner: bool = False  # nothing helps until the owner acts (a challenge, a login)


_CHALLENGE = (
    "Instagram wants to confirm it is you (a security challenge{detail}). Open the Instagram "
    "app on your phone, confirm the login ('This was me') or complete the check it shows, then "
    "run `dropcast check --connect` to resume"
)
_SPAM = (
    "Instagram blocked the post as suspected automation (feedback required{detail}). Open the "
    "Instagram app and read its notice; if it repeats, raise min_interval_seconds or lower "
    "max_posts_per_day"
)
_SLOW_DOWN = (
    "Instagram asked dropcast to slow down ({detail}). Nothing to do if it is rare; if it "
    "repeats, raise min_interval_seconds or lower max_posts_per_day"
)
_SUSPENDED = (
    "Instagram restricted or suspended the account{detail}. Open the Instagram app and follow "
    "its instructions, then run `dropcast check --connect`"
)
_BLOCKED_ADDRESS = (
    "Instagram blocked the network address dropcast uses{detail}. Set `proxy` to a stable, "
    "residential proxy, or post from another network"
)


def describe(
    error: BaseException, *, request_timeout: float, totp: bool, refused: str = "refused the post"
) -> Failure | None:
    """The `Failure` for an expected error; None for an unexpected one (a bug: let it raise).

    `refused` says what Instagram did when it answered with an error of its own.
    """
    cause = error.__cause__ if isinstance(error, LoginFailedError) else error
    if cause is None:
        return None
    paused = _pause_failure(cause)
    if paused is not None:
        return paused
    network = _network_failure(cause, request_timeout)
    if network is not None:
        return network
    if isinstance(error, LoginFailedError):
        return _login_failure(cause, totp)
    from instagrapi.exceptions import ClientError

    if isinstance(cause, ClientError):
        return Failure(f"Instagram {refused}: {_detail(cause)}")
    return None


def answer_lost(error: BaseException, *, request_timeout: float) -> str | None:
    """Why a request that may have reached Instagram got no answer; None if an answer came
    (a refusal: safe to send again) or the request never left this machine.

    A 5xx counts as lost: Instagram's front end answers 500, 502 or 504 when its back end
    failed or was slow, and the post may have been made all the same.
    """
    from instagrapi import exceptions as ig

    if isinstance(error, NoAnswerError):
        return _detail(error)
    if _pause_failure(error) is not None:  # an answer, and a clear no
        return None
    if isinstance(error, ig.ClientJSONDecodeError):  # only an answer of 2xx is parsed
        return "its answer could not be read"
    if _network_error(error):
        if _never_connected(error):
            return None
        if _timed_out(error):
            return f"no answer within request_timeout ({request_timeout:g} s)"
        return f"the connection broke: {_detail(error)}"
    status = getattr(error, "code", None)
    if isinstance(error, ig.ClientError) and isinstance(status, int) and status >= 500:
        return f"Instagram failed with HTTP {status} while making it"
    return None


def _network_error(error: BaseException) -> bool:
    from instagrapi.exceptions import ClientConnectionError
    from requests import exceptions as http

    return isinstance(error, ClientConnectionError | http.ConnectionError | http.Timeout)


def _never_connected(error: BaseException) -> bool:
    """Whether `error` is a connection that was never made (so no byte of the request left)."""
    from requests.exceptions import ConnectTimeout
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProxyError

    kinds = ConnectTimeout | ConnectTimeoutError | NewConnectionError | ProxyError
    return any(isinstance(link, kinds) for link in _chain(error))


def _pause_failure(error: BaseException) -> Failure | None:
    from instagrapi import exceptions as ig

    detail = _detail(error)
    if isinstance(error, ig.AccountSuspended):
        return Failure(_SUSPENDED.format(detail=f": {detail}"), pause=True, needs_owner=True)
    if isinstance(error, ig.ChallengeError | ig.CaptchaChallengeRequired):
        challenge = _CHALLENGE.format(detail=f", {type(error).__name__}")
        return Failure(challenge, pause=True, needs_owner=True)
    if isinstance(error, ig.FeedbackRequired | ig.SentryBlock):
        feedback = getattr(error, "feedback_message", "") or type(error).__name__
        return Failure(_SPAM.format(detail=f": {_shorten(str(feedback))}"), pause=True)
    if isinstance(error, ig.PleaseWaitFewMinutes | ig.RateLimitError | ig.ClientThrottledError):
        what = "HTTP 429" if getattr(error, "code", None) == 429 else type(error).__name__
        return Failure(_SLOW_DOWN.format(detail=what), pause=True)
    if isinstance(error, ig.ProxyAddressIsBlocked):
        return Failure(_BLOCKED_ADDRESS.format(detail=""), pause=True)
    return None


def _network_failure(error: BaseException, request_timeout: float) -> Failure | None:
    from instagrapi.exceptions import ClientConnectionError
    from requests import exceptions as http

    if _timed_out(error):
        return Failure(
            f"Instagram did not answer within request_timeout ({request_timeout:g} s); "
            "dropcast tries again later (check the network or the proxy if it repeats)"
        )
    if isinstance(error, ClientConnectionError | http.ConnectionError):
        return Failure(
            f"could not reach Instagram ({_detail(error)}); check the network or the proxy"
        )
    return None


def _timed_out(error: BaseException) -> bool:
    """Whether a network timeout is behind `error`, however instagrapi and requests wrapped it.

    instagrapi turns requests' errors into `ClientConnectionError` (the original is its
    `__context__`); with retries off, requests reports a read timeout as a `ConnectionError`
    around urllib3's `MaxRetryError(reason=ReadTimeoutError)`.
    """
    from requests.exceptions import Timeout
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    return any(isinstance(link, Timeout | Urllib3Timeout) for link in _chain(error))


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error` and every error behind it: causes, contexts, arguments, urllib3's reasons."""
    from urllib3.exceptions import MaxRetryError

    seen: list[BaseException] = [error]
    visited: set[int] = set()
    while seen:
        current = seen.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        yield current
        if isinstance(current, MaxRetryError) and current.reason is not None:
            seen.append(current.reason)
        seen.extend(arg for arg in current.args if isinstance(arg, BaseException))
        seen.extend(link for link in (current.__cause__, current.__context__) if link is not None)


def _login_failure(error: BaseException, totp: bool) -> Failure:
    from instagrapi import exceptions as ig

    if isinstance(error, ig.TwoFactorRequired):
        advice = (
            "Instagram refused the two-factor code made from totp_seed: check totp_seed and "
            "that this computer's clock is right"
            if totp
            else "the account uses two-factor authentication: set totp_seed to the key of "
            "its authentication app (see the README)"
        )
        return Failure(advice, stop_login=True, needs_owner=True)
    status = getattr(error, "code", None)
    if isinstance(status, int) and status >= 500:
        return Failure(f"Instagram failed while logging in (HTTP {status}); dropcast tries again")
    return Failure(
        f"Instagram did not accept the login ({_detail(error)}). Check username and password "
        "(and totp_seed) in the config; dropcast will not try to log in again until the "
        "Instagram settings change or it restarts",
        stop_login=True,
        needs_owner=True,
    )


def _detail(error: BaseException) -> str:
    return _shorten(str(error) or type(error).__name__)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"
