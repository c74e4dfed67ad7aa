"""The `email` platform: each post as one e-mail through one SMTP server, the caption as its
body and the image attached (how mail-to-post gateways such as FetLife's take posts).

`publisher` sends to each recipient once and says what happened; `smtp` holds the SMTP
conversations and the shared connection; `message` builds the e-mail and `image` its
attachment; `errors` says what a failure means and whether a retry may help; `settings`
is the config section.
"""

from __future__ import annotations

from daemon.publishers.email.publisher import EmailPublisher
from daemon.publishers.email.settings import EmailSettings

__all__ = ["EmailPublisher", "EmailSettings"]
