"""Uploading one photo: the bytes we prepared, as instagrapi's `photo_rupload` would send them.

instagrapi's `photo_upload` re-encodes the image itself (ignoring EXIF rotation, at JPEG
quality 75, shrunk to 1080 px) and reports the original file's size to Instagram, and it
retries `media/configure/` up to ten times. Here the prepared JPEG goes up unchanged, its
true size is configured, and configure is sent once: a retried configure can post twice.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from daemon.publishers._instagram_image import PreparedImage

if TYPE_CHECKING:
    from instagrapi import Client
    from requests import Response


@dataclass(frozen=True)
class Posted:
    """A post Instagram accepted: its shortcode (for the URL) and media id."""

    code: str | None
    media_id: str | None


def upload(
    client: Client, image: PreparedImage, caption: str, checkpoint: Callable[[], None]
) -> Posted:
    """Upload `image` and publish it with `caption` (blocking); raise instagrapi's errors.

    `checkpoint` is called before each request and raises if the attempt was given up
    (timed out, shut down): a post abandoned by the daemon is never published later.
    """
    upload_id = str(time.time_ns() // 1_000_000)
    checkpoint()
    _rupload(client, image, upload_id)
    checkpoint()
    configured = client.photo_configure(upload_id, image.width, image.height, caption)
    media = (configured.get("media") or {}) if isinstance(configured, dict) else {}
    code, media_id = media.get("code"), media.get("pk") or media.get("id")
    return Posted(str(code) if code else None, str(media_id) if media_id else None)


def _rupload(client: Client, image: PreparedImage, upload_id: str) -> None:
    """What instagrapi's `photo_rupload` sends, with our bytes and without its re-encoding."""
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
