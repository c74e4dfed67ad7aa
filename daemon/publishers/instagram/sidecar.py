"""Uploading one carousel (a "sidecar"): each photo as a carousel item, then one configure.

instagrapi's `album_upload` re-encodes every photo (see `upload`) and sends
`media/configure_sidecar/` up to 50 times; here each prepared JPEG goes up unchanged, as
`photo_rupload(..., to_album=True)` would send it, then its `album_configure` makes the one
configure request, under the same `one_request` guard as a photo's configure: a retried
configure can publish the carousel twice. Each item's alt text goes in its entry of
`children_metadata` as `custom_accessibility_caption`, the field the app sends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from daemon.publishers.instagram.image import PreparedImage
from daemon.publishers.instagram.upload import Posted, Steps, answer_lost_raised, posted, rupload

if TYPE_CHECKING:
    from instagrapi import Client


def upload_carousel(
    client: Client,
    images: Sequence[PreparedImage],
    alts: Sequence[str],
    caption: str,
    steps: Steps,
) -> Posted:
    """Upload `images` (2 to 10, one shape) and publish them as one carousel with `caption`
    (blocking); raise instagrapi's errors, or `AnswerLostError` when configure's answer was lost.

    `alts[i]` is image i's alt text ("" for none). `steps.checkpoint` is called before each
    request, `steps.before_configure` right before configure's first byte.
    """
    # Distinct ids, all older than the one album_configure takes for the carousel itself.
    first_id = time.time_ns() // 1_000_000 - len(images)
    children = []
    for index, image in enumerate(images):
        upload_id = str(first_id + index)
        steps.checkpoint()
        rupload(client, image, upload_id, sidecar=True)
        children.append(_child(upload_id, image, alts[index] if index < len(alts) else ""))
    steps.checkpoint()
    steps.before_configure()
    with answer_lost_raised(client, steps):
        configured = client.album_configure(children, caption)
    return posted(configured)


def _child(upload_id: str, image: PreparedImage, alt: str) -> dict[str, Any]:
    """One item of `children_metadata`, as instagrapi's `album_upload` builds a photo's."""
    child: dict[str, Any] = {
        "upload_id": upload_id,
        "edits": _compact(
            {
                "crop_original_size": [image.width, image.height],
                "crop_center": [0.0, -0.0],
                "crop_zoom": 1.0,
            }
        ),
        "extra": _compact({"source_width": image.width, "source_height": image.height}),
        "scene_capture_type": "",
        "scene_type": None,
    }
    if alt:
        child["custom_accessibility_caption"] = alt
    return child


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))  # as instagrapi's `dumps` writes it
