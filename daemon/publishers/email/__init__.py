"""The `email` platform: each post as one e-mail through one SMTP server, the caption as its
body and the images attached in order (how mail-to-post gateways such as FetLife's take posts).

`publisher` sends each message to each recipient once and says what happened; `sending`
makes one message's trips and reads the recipients' marks; `album` splits an album larger
than the server's SIZE into messages; `smtp` holds the SMTP conversations and the shared
connection; `message` builds the e-mail and `image` its attachments; `errors` says what a
failure means and whether a retry may help; `settings` is the config section.
"""

from __future__ import annotations

from daemon.publishers.email.publisher import EmailPublisher
from daemon.publishers.email.settings import EmailSettings

__all__ = ["EmailPublisher", "EmailSettings"]
