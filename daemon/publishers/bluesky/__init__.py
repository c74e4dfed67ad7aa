"""The `bluesky` platform: posts to a Bluesky account (any PDS) through the atproto SDK.

`publisher` posts each post as one Bluesky post or a thread of them, each part a destination
in the ledger under a record key chosen before it is sent; `thread` plans the parts (300
graphemes and 4 images each), `text` splits the caption and finds its facets, `media` fits
each image under the blob limit, `records` builds the post records and their keys,
`session` keeps the login between runs, `errors` reads the SDK's failures; `settings` is
the config section.
"""

from __future__ import annotations

from daemon.publishers.bluesky.publisher import BlueskyPublisher
from daemon.publishers.bluesky.settings import BlueskySettings

__all__ = ["BlueskyPublisher", "BlueskySettings"]
