"""The Bot API methods that send a post: the image (or album) with its caption, then replies.

aiogram is imported inside each function: this module is imported with the publisher, which
a disabled platform must not make import aiogram.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from daemon.publishers.telegram.media import Media

if TYPE_CHECKING:
    from aiogram.methods import SendMediaGroup, SendMessage
    from aiogram.methods.base import TelegramMethod
    from aiogram.types import Message


@dataclass(frozen=True)
class Delivery:
    """How a post's images go to a chat: its parse mode, its notification, its spoiler."""

    parse_mode: str | None
    silent: bool
    spoiler: bool  # a content warning: every photo hidden until tapped


def media_method(
    chat: int | str, media: Media, caption: str | None, how: Delivery
) -> TelegramMethod[Message]:
    """`sendPhoto` or `sendDocument` for one image with its caption."""
    from aiogram.methods import SendDocument, SendPhoto

    from daemon.publishers.telegram.upload import input_file

    file = input_file(media)
    if media.as_photo:
        return SendPhoto(
            chat_id=chat,
            photo=file,
            caption=caption,
            parse_mode=how.parse_mode,
            disable_notification=how.silent,
            has_spoiler=how.spoiler or None,
        )
    return SendDocument(  # a document has no spoiler: a warned post never sends one
        chat_id=chat,
        document=file,
        caption=caption,
        parse_mode=how.parse_mode,
        disable_notification=how.silent,
    )


def album_method(
    chat: int | str, media: tuple[Media, ...], caption: str | None, how: Delivery
) -> SendMediaGroup:
    """`sendMediaGroup` for an album of 2 to 10 images; the caption goes with the first."""
    from aiogram.methods import SendMediaGroup
    from aiogram.types import InputMediaDocument, InputMediaPhoto, MediaUnion

    from daemon.publishers.telegram.upload import input_file

    items: list[MediaUnion] = []
    for index, item in enumerate(media):
        text = caption if index == 0 else None
        file = input_file(item)
        mode = how.parse_mode
        if item.as_photo:
            spoiler = how.spoiler or None
            items.append(
                InputMediaPhoto(media=file, caption=text, parse_mode=mode, has_spoiler=spoiler)
            )
        else:
            items.append(InputMediaDocument(media=file, caption=text, parse_mode=mode))
    return SendMediaGroup(chat_id=chat, media=items, disable_notification=how.silent)


def text_method(chat: int | str, text: str, parse_mode: str | None, reply_to: int) -> SendMessage:
    """`sendMessage` for a further piece of a caption: a silent reply, with no link preview.

    Silent because one post makes one notification (the image's); no preview because the
    piece continues a caption, which has none.
    """
    from aiogram.methods import SendMessage
    from aiogram.types import LinkPreviewOptions, ReplyParameters

    return SendMessage(
        chat_id=chat,
        text=text,
        parse_mode=parse_mode,
        disable_notification=True,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
        reply_parameters=ReplyParameters(message_id=reply_to, allow_sending_without_reply=True),
    )
