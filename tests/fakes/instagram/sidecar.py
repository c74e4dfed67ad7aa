"""The fake's carousels: what was uploaded, and `media/configure_sidecar/` answered from it.

Instagram refuses a carousel (HTTP 400, `"status": "fail"`) unless it has 2 to 10 children,
each one a photo uploaded for a carousel (`is_sidecar`), each inside 4:5 … 1.91:1 (the words
of its refusal for a photo's configure). Instagram's exact words for the other refusals are
not documented; these say the same thing. Items of different shapes are refused too: the
app never sends them (it frames every item like the first), so dropcast must not either.
A configure the fake accepts is a carousel post, recorded in `posted`, with a new code.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import requests
from PIL import Image

USER = {"pk": "4242424242", "username": "dropcast.test"}
TALLEST, WIDEST = 4 / 5, 1.91
MIN_CHILDREN, MAX_CHILDREN = 2, 10


@dataclass(frozen=True)
class Upload:
    """One photo uploaded: its size (read from the bytes) and whether it is a carousel's."""

    width: int
    height: int
    sidecar: bool
    colour: tuple[int, ...]  # its middle pixel: tells the album's images apart


@dataclass(frozen=True)
class Item:
    """One item of a carousel posted: its size and alt text."""

    width: int
    height: int
    alt: str | None
    colour: tuple[int, ...]


@dataclass(frozen=True)
class CarouselPost:
    code: str
    caption: str
    items: tuple[Item, ...]


@dataclass
class Carousels:
    uploads: dict[str, Upload] = field(default_factory=dict)
    posted: list[CarouselPost] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def uploaded(self, request: requests.PreparedRequest) -> None:
        """Record the photo `request` (a `rupload_igphoto` POST) uploads."""
        params = json.loads(str(request.headers["X-Instagram-Rupload-Params"]))
        body = request.body if isinstance(request.body, bytes) else b""
        with Image.open(io.BytesIO(body)) as image:
            width, height = image.size
            middle = image.convert("RGB").getpixel((width // 2, height // 2))
        colour = tuple(middle) if isinstance(middle, tuple) else (int(middle or 0),)
        with self._lock:
            upload = Upload(width, height, params.get("is_sidecar") == "1", colour)
            self.uploads[str(params["upload_id"])] = upload

    def configure(self, fields: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Instagram's answer to a `configure_sidecar` with these (signed) fields."""
        children = fields.get("children_metadata")
        with self._lock:
            refusal = self._refusal(children)
            if refusal is not None:
                return 400, {"message": refusal, "status": "fail"}
            assert isinstance(children, list)
            items = tuple(self._item(child) for child in children)
            post = CarouselPost(f"DCfakeALBUM{len(self.posted) + 1}", fields["caption"], items)
            self.posted.append(post)
        return 200, _reply(post, len(self.posted), str(fields.get("client_sidecar_id")))

    def _refusal(self, children: object) -> str | None:
        if not isinstance(children, list) or not children:
            return "no sidecar children"
        if not MIN_CHILDREN <= len(children) <= MAX_CHILDREN:
            return f"a carousel takes {MIN_CHILDREN} to {MAX_CHILDREN} items, not {len(children)}"
        shapes = []
        for child in children:
            upload = self.uploads.get(str(child.get("upload_id")))
            if upload is None or not upload.sidecar:
                return "Uploaded image not found for a carousel item"
            extra = json.loads(child.get("extra") or "{}")
            if (extra.get("source_width"), extra.get("source_height")) != (
                upload.width,
                upload.height,
            ):
                return "a carousel item's size is not the uploaded image's"
            shapes.append(upload.width / upload.height)
        if not all(TALLEST - 0.001 <= shape <= WIDEST + 0.001 for shape in shapes):
            return "Uploaded image isn't in an allowed aspect ratio"
        if max(shapes) - min(shapes) > 0.005:
            return "the carousel's items are not of one aspect ratio"
        return None

    def _item(self, child: dict[str, Any]) -> Item:
        upload = self.uploads[str(child["upload_id"])]
        alt = child.get("custom_accessibility_caption")
        return Item(upload.width, upload.height, alt, upload.colour)


def _reply(post: CarouselPost, number: int, sidecar_id: str) -> dict[str, Any]:
    """A `configure_sidecar` success: the carousel post (media_type 8) and its items."""
    pk = f"35129000000000{number:05d}"
    carousel = [
        {
            "pk": f"{pk}{index}",
            "id": f"{pk}{index}_{USER['pk']}",
            "media_type": 1,
            "original_width": item.width,
            "original_height": item.height,
            "accessibility_caption": item.alt,
        }
        for index, item in enumerate(post.items)
    ]
    media = {
        "pk": pk,
        "id": f"{pk}_{USER['pk']}",
        "code": post.code,
        "media_type": 8,
        "carousel_media_count": len(carousel),
        "carousel_media": carousel,
        "caption": {"text": post.caption},
        "user": USER,
    }
    return {"media": media, "client_sidecar_id": sidecar_id, "status": "ok"}
