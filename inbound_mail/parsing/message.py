"""The parse result: ParsedMessage with its Address and ParsedAttachment values, and
to_json, their plain JSON view."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from inbound_mail.bounces import Bounce


@dataclass(frozen=True)
class Address:
    name: str
    address: str


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    size: int
    sha256: str
    content_id: str
    inline: bool
    payload: bytes = field(repr=False)


@dataclass
class ParsedMessage:
    message_id: str = ""
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    from_: Address | None = None
    sender: Address | None = None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    # Left in by some relays and clients; read only to route (inbound_mail.routing).
    bcc: list[Address] = field(default_factory=list)
    delivered_to: list[str] = field(default_factory=list)
    subject: str = ""
    # Outlook's conversation ([MS-OXOMSG] 2.2.1.3): Thread-Index decoded, and Thread-Topic.
    thread_index: bytes = b""
    thread_topic: str = ""
    date: datetime | None = None
    text: str = ""
    text_full: str = ""
    html: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    auto_generated: bool = False
    auto_reason: str = ""
    bounce: Bounce | None = None
    forwarded_from: Address | None = None
    headers: dict[str, list[str]] = field(default_factory=dict)
    size: int = 0
    defects: list[str] = field(default_factory=list)
    # What came before the header block and was skipped (parsing.headers.header_block_start):
    # a byte order mark, blank lines, an mbox "From " line, a gateway's banner.
    skipped_before_headers: list[str] = field(default_factory=list)


def to_json(msg: ParsedMessage) -> dict[str, Any]:
    """Plain JSON view of a parsed message. `in_reply_to` is a list of ids (several
    clients put more than one id there)."""
    return {
        "message_id": msg.message_id,
        "in_reply_to": list(msg.in_reply_to),
        "references": list(msg.references),
        "from": _address_json(msg.from_),
        "to": [_address_json(a) for a in msg.to],
        "cc": [_address_json(a) for a in msg.cc],
        "reply_to": [_address_json(a) for a in msg.reply_to],
        "bcc": [_address_json(a) for a in msg.bcc],
        "subject": msg.subject,
        "thread_index": base64.b64encode(msg.thread_index).decode("ascii"),
        "thread_topic": msg.thread_topic,
        "date": msg.date.isoformat() if msg.date else None,
        "text": msg.text,
        "text_full": msg.text_full,
        "html": msg.html,
        "attachments": [_attachment_json(a) for a in msg.attachments],
        "auto_generated": msg.auto_generated,
        "auto_reason": msg.auto_reason,
        "bounce": _bounce_json(msg.bounce),
        "forwarded_from": _address_json(msg.forwarded_from),
        "skipped_before_headers": list(msg.skipped_before_headers),
    }


def _address_json(addr: Address | None) -> dict[str, str] | None:
    return {"name": addr.name, "address": addr.address} if addr else None


def _attachment_json(att: ParsedAttachment) -> dict[str, Any]:
    return {
        "filename": att.filename,
        "content_type": att.content_type,
        "size": att.size,
        "sha256": att.sha256,
        "content_id": att.content_id,
        "inline": att.inline,
    }


def _bounce_json(bounce: Bounce | None) -> dict[str, Any] | None:
    if bounce is None:
        return None
    return {
        "recipients": list(bounce.recipients),
        "status": bounce.status,
        "action": bounce.action,
        "original_message_id": bounce.original_message_id,
    }
