"""The `instagram` platform: each post's first image and its caption on one Instagram account.

`publisher` posts carefully (one request at a time, limits, a pause) and finds a post whose
answer was lost; `session` is the instagrapi client and its saved login; `upload` sends the
photo and its one configure; `image` and `caption` fit the post to Instagram's rules;
`errors` says what a failure means to the owner; `state` keeps the pause and the limits,
`feed` the post's destination mark, `recent` the account's latest posts; `settings` is the
config section.
"""

from __future__ import annotations

from daemon.publishers.instagram.publisher import InstagramPublisher
from daemon.publishers.instagram.settings import InstagramSettings

__all__ = ["InstagramPublisher", "InstagramSettings"]
