"""The e-mail a post becomes: headers, the caption as a UTF-8 body, the image attached.

Mail-to-post gateways read the subject as a title, the plain-text body as the caption and
the attachment as the photo, so the message is plain and standard (RFC 5322, MIME, RFC 2047
subjects, RFC 2231 file names). With `html: true` the text also comes as HTML, with the
image shown inline (`cid:`); the image is then sent once, as the inline part.
"""

from __future__ import annotations

import html
import string
from collections.abc import Iterable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.publishers._email_image import Attachment
    from daemon.publishers.email import EmailSettings

SUBJECT_FIELDS = frozenset({"title", "stem", "date"})
BODY_FIELDS = frozenset({"caption", "title", "stem", "date"})
TITLE_LIMIT = 78  # characters; RFC 5322's recommended line length
ELLIPSIS = "…"

_HTML = """<!doctype html>
<html><head><meta charset="utf-8"></head>
<body>
<p style="white-space: pre-wrap">{text}</p>
<p><img src="cid:{cid}" alt="{alt}" style="max-width: 100%"></p>
</body></html>
"""


def check_template(template: str, allowed: Iterable[str]) -> str:
    """Return `template` if it uses only `allowed` fields; else raise ValueError saying why."""
    allowed = frozenset(allowed)
    known = ", ".join(f"{{{name}}}" for name in sorted(allowed))
    try:
        fields = [
            field for _, field, _, _ in string.Formatter().parse(template) if field is not None
        ]
    except ValueError as error:
        raise ValueError(f"{error}; a literal brace is written {{{{ or }}}}") from None
    for field in fields:
        if field not in allowed:
            raise ValueError(f"unknown field {{{field}}}; the fields are {known}")
    try:
        template.format_map(dict.fromkeys(allowed, ""))
    except (ValueError, TypeError) as error:
        raise ValueError(f"cannot be filled in: {error}") from None
    return template


def title_of(caption: str, stem: str) -> str:
    """The caption's first non-blank line, cut to `TITLE_LIMIT`; the stem if it has none."""
    for line in caption.splitlines():
        if line.strip():
            return cut_on_word(line, TITLE_LIMIT)
    return cut_on_word(stem, TITLE_LIMIT)


def cut_on_word(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters, cut at a space with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    cut = text.rfind(" ", 0, room + 1)
    return f"{text[: cut if cut > 0 else room].rstrip()}{ELLIPSIS}"


def build_message(
    settings: EmailSettings, stem: str, caption: str, attachment: Attachment, now: datetime
) -> EmailMessage:
    """The message for one post, sent at `now` (an aware local time)."""
    fields = {"title": title_of(caption, stem), "stem": stem, "date": now.date().isoformat()}
    body = (
        caption
        if settings.body == "caption"
        else settings.body.format_map({**fields, "caption": caption})
    )
    domain = _domain_of(settings.sender)
    message = EmailMessage()
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid("dropcast", domain=domain)
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message["Subject"] = " ".join(settings.subject.format_map(fields).split())
    if settings.html:
        _add_html(message, body, stem, attachment, domain)
    else:
        message.set_content(body, charset="utf-8", cte="quoted-printable")
        message.add_attachment(
            attachment.data,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
        )
    return message


def _add_html(
    message: EmailMessage, text: str, stem: str, attachment: Attachment, domain: str
) -> None:
    """Make the message related[alternative[text, HTML], image], the HTML showing the image.

    The image is a direct part of the message (as in the plain layout), so a gateway that
    looks for attachments among the top-level parts finds it.
    """
    cid = make_msgid("image", domain=domain)
    page = _HTML.format(text=html.escape(text), cid=cid[1:-1], alt=html.escape(stem))
    alternative = EmailMessage()
    alternative.set_content(text, charset="utf-8", cte="quoted-printable")
    alternative.add_alternative(page, subtype="html", charset="utf-8", cte="quoted-printable")
    image = EmailMessage()
    image.set_content(
        attachment.data,
        maintype=attachment.maintype,
        subtype=attachment.subtype,
        cid=cid,
        disposition="inline",
        filename=attachment.filename,
    )
    message.make_related()
    message.attach(alternative)
    message.attach(image)


def _domain_of(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2]
