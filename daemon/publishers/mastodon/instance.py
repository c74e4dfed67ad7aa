"""The limits a Mastodon server states in `/api/v2/instance`, read once per publisher session."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Mastodon's own defaults (4.x), for a server that leaves a limit out.
_DEFAULT_MIME_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")


@dataclass(frozen=True)
class Limits:
    """What one status and its media may be on this server."""

    max_characters: int = 500
    characters_reserved_per_url: int = 23
    max_media_attachments: int = 4
    image_size_limit: int = 16_777_216  # bytes
    image_matrix_limit: int = 33_177_600  # pixels (width x height)
    description_limit: int = 1_500  # characters of alt text
    supported_mime_types: tuple[str, ...] = _DEFAULT_MIME_TYPES

    def describe(self) -> str:
        return f"{self.max_characters} characters and {self.max_media_attachments} images a status"


def read_limits(instance: Mapping[str, Any]) -> Limits:
    """The limits in an `/api/v2/instance` answer; a limit it leaves out keeps the default."""
    configuration = _section(instance, "configuration")
    statuses = _section(configuration, "statuses")
    media = _section(configuration, "media_attachments")
    defaults = Limits()
    mime_types = media.get("supported_mime_types")
    return Limits(
        max_characters=_positive(statuses, "max_characters", defaults.max_characters),
        characters_reserved_per_url=_positive(
            statuses, "characters_reserved_per_url", defaults.characters_reserved_per_url
        ),
        max_media_attachments=_positive(
            statuses, "max_media_attachments", defaults.max_media_attachments
        ),
        image_size_limit=_positive(media, "image_size_limit", defaults.image_size_limit),
        image_matrix_limit=_positive(media, "image_matrix_limit", defaults.image_matrix_limit),
        description_limit=_positive(media, "description_limit", defaults.description_limit),
        supported_mime_types=tuple(mime_types) if mime_types else defaults.supported_mime_types,
    )


def _section(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = mapping.get(key)
    return value if isinstance(value, Mapping) else {}


def _positive(mapping: Mapping[str, Any], key: str, default: int) -> int:
    value = mapping.get(key)
    return value if isinstance(value, int) and value > 0 else default
