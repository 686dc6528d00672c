"""The fallback stages of parse_message: mail-parser when the stdlib path fails, then a
header-only parse as the last resort."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
from typing import Any

from inbound_mail import autoreply, quoting
from inbound_mail.parsing.addresses import _normalize_address
from inbound_mail.parsing.attachments import _safe_filename
from inbound_mail.parsing.bodies import _normalize_newlines
from inbound_mail.parsing.charsets import decode_bytes
from inbound_mail.parsing.header_fields import _fill_headers, _first_header_getter
from inbound_mail.parsing.headers import _message_ids, _unfold, collapse_whitespace, parse_date
from inbound_mail.parsing.html_text import html_to_text, sanitize_html
from inbound_mail.parsing.limits import MAX_BODY_CHARS
from inbound_mail.parsing.message import Address, ParsedAttachment, ParsedMessage


def _parse_mailparser(raw: bytes) -> ParsedMessage:
    """Second stage: mail-parser has its own header and body decoding paths."""
    import mailparser  # imported lazily: it is only needed when the stdlib path failed

    parsed = mailparser.parse_from_bytes(raw)
    msg = ParsedMessage(size=len(raw))
    msg.headers = {
        k.lower(): [_unfold(str(v))] if not isinstance(v, list) else [_unfold(str(x)) for x in v]
        for k, v in (parsed.headers or {}).items()
    }
    first = _first_header_getter(msg.headers)
    msg.subject = collapse_whitespace(str(parsed.subject or ""))
    msg.message_id = next(iter(_message_ids(first("message-id"), limit=1)), "")
    msg.in_reply_to = _message_ids(first("in-reply-to"))
    msg.references = _message_ids(first("references"))
    msg.from_ = _mailparser_address(parsed.from_)
    msg.to = [a for a in (_mailparser_address([x]) for x in parsed.to or []) if a]
    msg.cc = [a for a in (_mailparser_address([x]) for x in parsed.cc or []) if a]
    msg.date = parse_date(first("date"))
    msg.text_full = _normalize_newlines("\n".join(parsed.text_plain or []))
    html_source = "\n".join(parsed.text_html or [])
    if not msg.text_full.strip() and html_source:
        msg.text_full = html_to_text(html_source)
    msg.html = sanitize_html(html_source) if html_source else ""
    msg.text = quoting.split_reply(msg.text_full)
    msg.attachments = [_mailparser_attachment(a) for a in parsed.attachments or []]
    msg.defects = [f"mail-parser: {d}" for d in sorted(parsed.defects_categories or [])]
    msg.auto_reason = autoreply.classify(
        msg.headers, sender=msg.from_.address if msg.from_ else "", subject=msg.subject
    )
    msg.auto_generated = bool(msg.auto_reason)
    return msg


def _mailparser_address(pairs: Any) -> Address | None:
    for name, addr in pairs or []:
        if addr:
            return Address(collapse_whitespace(str(name or "")), _normalize_address(str(addr)))
    return None


def _mailparser_attachment(item: dict[str, Any]) -> ParsedAttachment:
    payload = item.get("payload") or ""
    if item.get("binary"):
        data = base64.b64decode(payload)
    else:
        data = str(payload).encode("utf-8", "surrogateescape")
    return ParsedAttachment(
        filename=_safe_filename(str(item.get("filename") or "")) or "attachment.bin",
        content_type=str(item.get("mail_content_type") or "application/octet-stream").lower(),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_id=str(item.get("content-id") or "").strip("<> "),
        inline="inline" in str(item.get("content-disposition") or ""),
        payload=data,
    )


def _parse_headers_only(raw: bytes) -> ParsedMessage:
    """Last resort: headers from the part before the first blank line, body as text."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    split = min(ends) if ends else len(raw)
    head, body = raw[:split], raw[split:].lstrip(b"\r\n")
    root = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
        head + b"\n\n", headersonly=True
    )
    msg = ParsedMessage(size=len(raw))
    _fill_headers(msg, root, ())
    msg.text_full = _normalize_newlines(decode_bytes(body[:MAX_BODY_CHARS]))
    msg.text = msg.text_full
    msg.defects.append("body kept as unparsed text")
    return msg
