"""The `telegram` platform: posts to Telegram chats and channels through the Bot API (aiogram 3).

`publisher` sends each post to every chat, the image or albums first and the rest of the
caption as replies, each part a destination in the ledger (`steps` names them); `plan` is
what every chat gets of a post, `album` how its images split into albums; `api` is the
aiogram client and its errors in the owner's words; `media` fits each image to Telegram's
photo limits, `upload` hands it to aiogram (streamed from the disk if large), `methods` are
the Bot API requests that send it;
`text` splits a long caption, reading its markup as Telegram does (`formatted`, `html`,
`markdown`); `legacy` hands an old `deliveries.json` over to the ledger; `settings` is the
config section.
"""

from __future__ import annotations

from daemon.publishers.telegram.publisher import TelegramPublisher
from daemon.publishers.telegram.settings import TelegramSettings

__all__ = ["TelegramPublisher", "TelegramSettings"]
