"""The `mastodon` platform: posts to a Mastodon account through its REST API (Mastodon.py).

`publisher` posts each post as a status, or a thread of replies when the caption or the
album is larger than the server allows, each part a destination in the ledger; `api` runs
Mastodon.py in a worker thread and says its errors in the owner's words; `instance` reads
the server's limits; `text` counts and splits a caption as Mastodon counts it; `media` fits
each image to the server's limits; `thread` plans the parts and their idempotency keys;
`recent` finds a part among the account's statuses after a lost answer; `settings` is the
config section.
"""

from __future__ import annotations

from daemon.publishers.mastodon.publisher import MastodonPublisher
from daemon.publishers.mastodon.settings import MastodonSettings

__all__ = ["MastodonPublisher", "MastodonSettings"]
