"""The e-mail a post becomes: headers, the caption as a UTF-8 body, the images attached.

Mail-to-post gateways read the subject as a title, the plain-text body as the caption and
the attachments as the photos, so the message is plain and standard (RFC 5322, MIME, RFC
2047 subjects, RFC 2231 file names with an ASCII fallback). An album's images are attached
in order, each with its alt text as `Content-Description` (RFC 2045). With `html: true` the
text also comes as HTML, with the images shown inline (`cid:`, their alt text as `alt`);
each image is then sent once, as the inline part.
"""

from __future__ import annotations

import base64
import html
import math
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from email import encoders
from email.charset import QP, Charset
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import format_datetime, formataddr, make_msgid, parseaddr, quote
from urllib.parse import quote as url_quote

from daemon.frontmatter import ContentWarning
from daemon.names import sendable
from daemon.publishers.email.image import Attachment
from daemon.publishers.email.settings import EmailSettings

TITLE_LIMIT = 78  # characters; RFC 5322's recommended line length
LINE_LIMIT = 78  # RFC 5322's recommended line length, for headers dropcast folds itself
ENCODED_WORD_LIMIT = 75  # RFC 2047: the longest encoded word
ENCODED_LINE_LIMIT = 76  # RFC 2047: the longest line holding an encoded word
_RFC2231_CHARSET = "utf-8''"  # charset, then an empty language
_PIECE_LIMIT = 54  # characters of a file name's RFC 2231 piece: with its name, under 78
_FALLBACK_LIMIT = 60  # characters of the ASCII file name, when it would not fit a line
ELLIPSIS = "…"
_BASE64_LINE_BYTES = 57  # bytes on each line of base64 (76 characters), as `email` cuts them

# The standard library's classic MIME classes: a few times faster than EmailMessage, which
# parses every header it is given. Text goes as UTF-8 quoted-printable, readable in the raw.
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP
_SMTP = compat32.clone(linesep="\r\n")

_HTML = """<!doctype html>
<html><head><meta charset="utf-8"></head>
<body>
<p style="white-space: pre-wrap">{text}</p>
{images}
</body></html>
"""
_HTML_IMAGE = '<p><img src="cid:{cid}" alt="{alt}" style="max-width: 100%"></p>'


@dataclass(frozen=True)
class Content:
    """What one message carries: the images (in order) with their alt text, the warning,
    and which message of how many it is when an album is split ((1, 1) when it is not)."""

    attachments: tuple[Attachment, ...]
    alts: tuple[str, ...] = ()
    content_warning: ContentWarning | None = None
    part: tuple[int, int] = (1, 1)

    def alt_for(self, index: int) -> str:
        return self.alts[index] if index < len(self.alts) else ""


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
    settings: EmailSettings,
    stem: str,
    caption: str,
    content: Content,
    now: datetime,
    message_id: str | None = None,
) -> Message:
    """The message for one post (or one part of a split album), sent at `now` (an aware
    local time), with `message_id` (a new one if None)."""
    fields = {"title": title_of(caption, stem), "stem": stem, "date": now.date().isoformat()}
    body = (
        caption
        if settings.body == "caption"
        else settings.body.format_map({**fields, "caption": caption})
    )
    domain = _domain_of(settings.sender)
    if settings.html:
        message = _html_layout(body, stem, content, domain)
    else:
        images = [_image(a, "attachment", content.alt_for(i)) for i, a in _numbered(content)]
        message = MIMEMultipart("mixed", _subparts=[_text(body), *images])
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id or make_msgid("dropcast", domain=domain)
    message["From"] = _address(settings.sender)
    message["To"] = ", ".join(_address(recipient) for recipient in settings.recipients)
    message["Subject"] = _subject(subject_of(settings, fields, content))
    return message


def subject_of(settings: EmailSettings, fields: dict[str, str], content: Content) -> str:
    """The subject on one line: the warning's prefix, the template, and "(1/2)" for a part."""
    warning = content.content_warning
    prefix = (
        settings.content_warning_subject.format_map({"warning": warning.describe()})
        if warning is not None
        else ""
    )
    number, total = content.part
    suffix = f" ({number}/{total})" if total > 1 else ""
    return " ".join(f"{prefix}{settings.subject.format_map(fields)}{suffix}".split())


def image_part_size(attachment: Attachment, alt: str) -> int:
    """The bytes one attached image takes in a message as sent: its headers, as made, and its
    base64 by count (lines of 76 characters and CRLF), so the image is not encoded twice."""
    headers = len(as_smtp_bytes(_image(replace(attachment, data=b""), "attachment", alt)))
    size = len(attachment.data)
    return headers + 4 * math.ceil(size / 3) + 2 * math.ceil(size / _BASE64_LINE_BYTES)


def _numbered(content: Content) -> list[tuple[int, Attachment]]:
    return list(enumerate(content.attachments))


def as_smtp_bytes(message: Message) -> bytes:
    """The message as sent: CRLF line ends, long lines folded."""
    return message.as_bytes(policy=_SMTP)


def _html_layout(text: str, stem: str, content: Content, domain: str) -> MIMEMultipart:
    """related[alternative[text, HTML], image, ...], the HTML showing the images in order.

    The images are direct parts of the message (as in the plain layout), so a gateway that
    looks for attachments among the top-level parts finds them. An image without alt text
    gets the stem as its `alt`, as before alt text existed.
    """
    images, tags = [], []
    for index, attachment in _numbered(content):
        alt = content.alt_for(index)
        cid = make_msgid("image", domain=domain)
        tags.append(_HTML_IMAGE.format(cid=cid[1:-1], alt=html.escape(alt or stem)))
        image = _image(attachment, "inline", alt)
        image["Content-ID"] = cid
        images.append(image)
    page = _HTML.format(text=html.escape(text), images="\n".join(tags))
    alternative = MIMEMultipart("alternative", _subparts=[_text(text), _text(page, "html")])
    return MIMEMultipart("related", _subparts=[alternative, *images])


def _text(text: str, subtype: str = "plain") -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text if text.endswith("\n") else f"{text}\n", _UTF8_QP)
    return part


def _image(attachment: Attachment, disposition: str, alt: str = "") -> MIMEBase:
    part = MIMEBase(attachment.maintype, attachment.subtype)
    part.set_payload(attachment.data)
    encoders.encode_base64(part)
    part["Content-Disposition"] = content_disposition(disposition, attachment.filename)
    description = " ".join(alt.split())  # on one line: a newline would end the header
    if description:
        part["Content-Description"] = encoded_header("Content-Description", description)
    return part


def content_disposition(disposition: str, name: str) -> str:
    """The Content-Disposition value naming the file, folded, each line at most 78 characters.

    A plain ASCII name that fits on a line goes as `filename="..."`. Any other goes as RFC
    2231 `filename*=utf-8''...` (in pieces if long), beside an ASCII `filename="..."` for
    readers that know only that one (RFC 6266 asks readers to prefer `filename*`). A control
    character (CR and LF are legal in a Linux file name) becomes `_`: in a header it would
    end the line.
    """
    name = sendable(name)
    plain = f'filename="{quote(name)}"'
    if name.isascii() and len(plain) + len(" ;") <= LINE_LIMIT:
        return f"{disposition};\n {plain}"
    fallback = _ascii_name(name)
    if len(f' filename="{quote(fallback)}";') > LINE_LIMIT:
        # On a line of its own, unfolded: a fold inside the quotes could become a newline.
        stem, dot, suffix = fallback.replace(" ", "_").rpartition(".")
        suffix = f"{dot}{suffix}" if stem else ""
        fallback = (stem or suffix)[: _FALLBACK_LIMIT - len(suffix)] + suffix
    pieces = _pieces(url_quote(name, safe=""), _PIECE_LIMIT)
    if len(pieces) == 1:
        extended = [f"filename*={_RFC2231_CHARSET}{pieces[0]}"]
    else:
        extended = [
            f"filename*{number}*={_RFC2231_CHARSET if number == 0 else ''}{piece}"
            for number, piece in enumerate(pieces)
        ]
    return ";\n ".join([disposition, f'filename="{quote(fallback)}"', *extended])


def _ascii_name(name: str) -> str:
    """`name` in printable ASCII: accents dropped (é → e), any other character `_`."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(
        char if char.isascii() and char.isprintable() else "_"
        for char in decomposed
        if not unicodedata.combining(char)
    )


def _pieces(encoded: str, limit: int) -> list[str]:
    """`encoded` (percent-encoded) cut into pieces of at most `limit`, never inside a `%XX`."""
    pieces, current, at = [], "", 0
    while at < len(encoded):
        step = 3 if encoded[at] == "%" else 1
        if current and len(current) + step > limit:
            pieces.append(current)
            current = ""
        current += encoded[at : at + step]
        at += step
    return [*pieces, current]


def _address(address: str) -> str:
    """`Name <me@example.com>` with the name RFC 2047-encoded where it is not ASCII."""
    name, bare = parseaddr(address)
    return formataddr((name, bare), charset="utf-8")


def _subject(text: str) -> str:
    """`text` as the Subject header: RFC 2047-encoded and folded where it is not ASCII."""
    return encoded_header("Subject", text)


def encoded_header(name: str, text: str) -> str:
    """`text` as the value of header `name`: RFC 2047-encoded and folded if not ASCII.

    Each encoded word holds whole characters and is at most 75 characters long, each line
    at most 76 (RFC 2047, section 2): the standard library's `Header` makes 76-character
    words. Decoders drop the folds between encoded words, so no space is added.
    """
    if text.isascii():
        return text
    words: list[str] = []
    chunk, room = "", ENCODED_LINE_LIMIT - len(f"{name}: ")
    for char in text:
        if chunk and len(_encoded_word(chunk + char)) > room:
            words.append(_encoded_word(chunk))
            chunk, room = char, min(ENCODED_WORD_LIMIT, ENCODED_LINE_LIMIT - 1)
        else:
            chunk += char
    words.append(_encoded_word(chunk))
    return "\n ".join(words)


def _encoded_word(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode('ascii')}?="


def _domain_of(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2]
