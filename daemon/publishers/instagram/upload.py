"""Uploading one photo: the bytes we prepared, as instagrapi's `photo_rupload` would send them.

instagrapi's `photo_upload` re-encodes the image itself (ignoring EXIF rotation, at JPEG
quality 75, shrunk to 1080 px) and reports the original file's size to Instagram, and it
retries `media/configure/` up to ten times. Here the prepared JPEG goes up unchanged, its
true size is configured, and configure is sent once: a retried configure can post twice.
Its `private_request` sends configure again on its own too (see `one_request`), so that
is turned off for the call. A configure whose answer was lost raises `AnswerLostError`.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from daemon.publishers.instagram.errors import NoAnswerError, answer_lost
from daemon.publishers.instagram.image import PreparedImage

if TYPE_CHECKING:
    from instagrapi import Client
    from requests import Response


@dataclass(frozen=True)
class Posted:
    """A post Instagram accepted: its shortcode (for the URL) and media id."""

    code: str | None
    media_id: str | None


class AnswerLostError(Exception):
    """Raised by `upload` when configure may have reached Instagram and its answer was lost."""


@dataclass(frozen=True)
class Steps:
    """What `upload` calls between its requests (each raises to stop the upload there)."""

    checkpoint: Callable[[], None]  # raises if the attempt was given up (timed out, shut down)
    before_configure: Callable[[], None]  # right before configure's first byte
    request_timeout: float  # for the words of a lost answer


def upload(
    client: Client, image: PreparedImage, caption: str, steps: Steps, alt: str = ""
) -> Posted:
    """Upload `image` and publish it with `caption` (blocking); raise instagrapi's errors,
    or `AnswerLostError` when configure's answer was lost.

    `alt` goes as the photo's `custom_accessibility_caption` (the app's field for alt text);
    none is sent when it is empty. `steps.checkpoint` is called before each request: a post
    abandoned by the daemon is never published later.
    """
    upload_id = str(time.time_ns() // 1_000_000)
    steps.checkpoint()
    rupload(client, image, upload_id)
    steps.checkpoint()
    steps.before_configure()
    extra = {"custom_accessibility_caption": alt} if alt else {}
    with answer_lost_raised(client, steps):
        configured = client.photo_configure(
            upload_id, image.width, image.height, caption, extra_data=extra
        )
    return posted(configured)


@contextmanager
def answer_lost_raised(client: Client, steps: Steps) -> Iterator[None]:
    """Around a configure: its one request, and `AnswerLostError` when its answer was lost."""
    with one_request(client):
        try:
            yield
        except Exception as error:
            lost = answer_lost(error, request_timeout=steps.request_timeout)
            if lost is None:
                raise
            raise AnswerLostError(lost) from error


def posted(configured: object) -> Posted:
    """The post a configure's answer describes."""
    media = (configured.get("media") or {}) if isinstance(configured, dict) else {}
    code, media_id = media.get("code"), media.get("pk") or media.get("id")
    return Posted(str(code) if code else None, str(media_id) if media_id else None)


@contextmanager
def one_request(client: Client) -> Iterator[None]:
    """While inside, instagrapi's `private_request` sends its request once, never again.

    instagrapi 3.2.2, `mixins/private.py`, `PrivateRequestMixin.private_request`:

        except ClientRequestTimeout:            # HTTP 408
            time.sleep(60)
            return self._send_private_request(endpoint, **kwargs)
        except ClientIncompleteReadError:       # requests' ChunkedEncodingError
            time.sleep(2)
            return self._send_private_request(endpoint, **kwargs)

    whatever `session_retry_total` says (that is urllib3's retry, not this). Here the one
    `_send_private_request` raises `NoAnswerError` instead of those two, which its generic
    `except Exception: raise e` passes on unchanged: no sleep, no second request. A second
    call (its `handle_exception` and challenge branches re-send too; dropcast sets neither)
    is refused outright.
    """
    from instagrapi.exceptions import ClientIncompleteReadError, ClientRequestTimeout

    send = client._send_private_request
    calls = 0

    def once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise RuntimeError("instagrapi tried to send the same request a second time")
        try:
            return send(*args, **kwargs)
        except ClientRequestTimeout as error:
            raise NoAnswerError("Instagram answered HTTP 408, Request Timeout") from error
        except ClientIncompleteReadError as error:
            raise NoAnswerError(f"its answer was cut off ({error})") from error

    client._send_private_request = once  # an instance attribute shadows the method
    try:
        yield
    finally:
        del client._send_private_request


def rupload(client: Client, image: PreparedImage, upload_id: str, *, sidecar: bool = False) -> None:
    """What instagrapi's `photo_rupload` sends, with our bytes and without its re-encoding
    (`sidecar`: as a carousel's item, its `to_album=True`)."""
    from instagrapi import config

    name = f"{upload_id}_0_{1_000_000_000 + secrets.randbelow(9_000_000_000)}"
    rupload_params = {
        "retry_context": '{"num_step_auto_retry":0,"num_reupload":0,"num_step_manual_retry":0}',
        "media_type": "1",
        "xsharing_user_ids": "[]",
        "upload_id": upload_id,
        # The app's own values, as instagrapi sends them (our JPEG is finer than this says).
        "image_compression": json.dumps(
            {"lib_name": "moz", "lib_version": "3.1.m", "quality": "80"}
        ),
    }
    if sidecar:
        rupload_params["is_sidecar"] = "1"
    length = str(len(image.data))
    headers = client.private_headers(
        {
            "Accept-Encoding": "gzip",
            "X-Instagram-Rupload-Params": json.dumps(rupload_params),
            "X_FB_PHOTO_WATERFALL_ID": str(secrets.token_hex(16)),
            "X-Entity-Type": "image/jpeg",
            "Offset": "0",
            "X-Entity-Name": name,
            "X-Entity-Length": length,
            "Content-Type": "application/octet-stream",
            "Content-Length": length,
        }
    )
    response = client.private.post(
        f"https://{config.API_DOMAIN}/rupload_igphoto/{name}", data=image.data, headers=headers
    )
    if response.status_code != 200:
        raise _upload_error(response)


def _upload_error(response: Response) -> Exception:
    """The instagrapi error `private_request` would raise for this reply to an upload."""
    from instagrapi import exceptions as ig

    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or response.text[:200] or f"HTTP {response.status_code}")
    fields = {key: value for key, value in body.items() if key != "message"}
    kinds = {
        "login_required": ig.LoginRequired,
        "challenge_required": ig.ChallengeRequired,
        "feedback_required": ig.FeedbackRequired,
    }
    error: Exception
    if message in kinds:
        error = kinds[message](message=message, response=response, **fields)
    elif "Please wait a few minutes" in message:
        error = ig.PleaseWaitFewMinutes(message, response=response, **fields)
    elif response.status_code == 429:
        error = ig.ClientThrottledError(message, response=response, **fields)
    else:
        error = ig.PhotoNotUpload(
            f"the photo upload failed: {message}", response=response, **fields
        )
    return error
