"""A ParsedMessage's header fields from a parsed header block: ids, subject, date, the
author (From, else Reply-To), the recipient lists (Bcc too, when a relay left it), the
envelope recipients and Outlook's Thread-Index and Thread-Topic."""

from __future__ import annotations

from email.message import Message

from inbound_mail.parsing.addresses import parse_addresses
from inbound_mail.parsing.headers import (
    _header_dict,
    _message_ids,
    collapse_whitespace,
    decode_header_value,
    decode_thread_index,
    parse_date,
)
from inbound_mail.parsing.limits import MAX_ADDRESSES
from inbound_mail.parsing.message import Address, ParsedMessage


def _fill_headers(msg: ParsedMessage, root: Message, hints: tuple[str, ...]) -> None:
    msg.headers = _header_dict(root, hints)
    first = _first_header_getter(msg.headers)
    msg.message_id = next(iter(_message_ids(first("message-id"), limit=1)), "")
    msg.in_reply_to = _message_ids(first("in-reply-to"), variants=True)
    msg.references = _message_ids(" ".join(msg.headers.get("references", [])), variants=True)
    msg.subject = collapse_whitespace(decode_header_value(first("subject")))
    msg.from_ = _pick_from(msg, msg.headers)
    msg.sender = next(iter(parse_addresses(first("sender"))), None)
    msg.to = _addresses_of(msg.headers, "to")
    msg.cc = _addresses_of(msg.headers, "cc")
    msg.reply_to = _addresses_of(msg.headers, "reply-to")
    msg.bcc = _addresses_of(msg.headers, "bcc")
    msg.delivered_to = _delivered_to(msg.headers)
    msg.date = parse_date(first("date"))
    msg.thread_index = decode_thread_index(first("thread-index"))
    msg.thread_topic = collapse_whitespace(decode_header_value(first("thread-topic")))


def _pick_from(msg: ParsedMessage, headers: dict[str, list[str]]) -> Address | None:
    """The author. Spam and broken gateways send several From: fields or one without
    an address (Zammad mail017, mail019); take the first real address, then Reply-To,
    then whatever From held (e.g. a bare "MAILER-DAEMON")."""
    candidates = [a for value in headers.get("from", [])[:10] for a in parse_addresses(value)]
    for addr in candidates:
        if "@" in addr.address:
            return addr
    for value in headers.get("reply-to", [])[:10]:
        for addr in parse_addresses(value):
            if "@" in addr.address:
                msg.defects.append("no address in From; Reply-To used")
                return addr
    return candidates[0] if candidates else None


def _first_header_getter(headers: dict[str, list[str]]):
    def first(name: str) -> str:
        values = headers.get(name)
        return values[0] if values else ""

    return first


def _addresses_of(headers: dict[str, list[str]], name: str) -> list[Address]:
    # Several To:/Cc: fields are illegal (RFC 5322 3.6) but happen; keep them all.
    found: list[Address] = []
    for value in headers.get(name, []):
        found.extend(parse_addresses(value))
    return _dedupe_addresses(found)[:MAX_ADDRESSES]


def _dedupe_addresses(addresses: list[Address]) -> list[Address]:
    seen: set[str] = set()
    unique = []
    for addr in addresses:
        if addr.address not in seen:
            seen.add(addr.address)
            unique.append(addr)
    return unique


_ENVELOPE_HEADERS = ("delivered-to", "x-original-to", "x-envelope-to", "envelope-to")


def _delivered_to(headers: dict[str, list[str]]) -> list[str]:
    found: list[str] = []
    for name in _ENVELOPE_HEADERS:
        for value in headers.get(name, []):
            found.extend(a.address for a in parse_addresses(value) if "@" in a.address)
    return list(dict.fromkeys(found))[:MAX_ADDRESSES]
