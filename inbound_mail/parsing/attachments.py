"""Attachments: every MIME leaf that is not a body becomes a ParsedAttachment with a safe,
unique filename (made from its type, Content-ID or subject when the part names none)."""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import re
import unicodedata
from email.message import Message
from typing import Any

from inbound_mail.parsing.headers import _header_str, collapse_whitespace, decode_header_value
from inbound_mail.parsing.limits import MAX_DEPTH
from inbound_mail.parsing.message import ParsedAttachment
from inbound_mail.parsing.mime import _Leaf, _param, _payload_bytes, _raw_get

# Stems for parts that arrive without a name; the extension comes from the type.
_GENERATED_STEMS = {
    "message/delivery-status": "delivery-status",
    "message/global-delivery-status": "delivery-status",
    "message/disposition-notification": "disposition-notification",
    "message/feedback-report": "feedback-report",
    "text/rfc822-headers": "headers",
    "text/calendar": "invite",
    "text/html": "document",
    "text/plain": "document",
    "application/pgp-signature": "signature",
    "application/pkcs7-signature": "smime",
    "application/x-pkcs7-signature": "smime",
    "application/pkcs7-mime": "smime",
    "application/x-pkcs7-mime": "smime",
    "application/ms-tnef": "winmail",
}
_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "text/plain": ".txt",
    "text/calendar": ".ics",
    "text/rfc822-headers": ".txt",
    "message/delivery-status": ".txt",
    "message/global-delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "message/feedback-report": ".txt",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/pjpeg": ".jpg",
    "application/pgp-signature": ".asc",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/pkcs7-mime": ".p7m",
    "application/x-pkcs7-mime": ".p7m",
    "application/ms-tnef": ".dat",
    "application/octet-stream": ".bin",
}
# The stdlib's built-in table only, so names do not depend on the host's mime.types.
_MIME_TYPES = mimetypes.MimeTypes(filenames=())
_UNSAFE_FILENAME_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FILENAME_SPACE_RE = re.compile(r"[\t\r\n\u2028\u2029]")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_CID_FILENAME_RE = re.compile(r"[\w.-]{1,100}\.[A-Za-z0-9]{2,5}")


def _leaf_attachment(leaf: _Leaf, hints: tuple[str, ...], used: set[str]) -> ParsedAttachment:
    """One MIME leaf as an attachment; `used` holds the names given so far."""
    name, generated = _filename(leaf, hints)
    if generated:
        name = _unique_name(name, used)
    used.add(name)
    return _attachment(leaf, name)


def _file_attachment(
    name: str, payload: bytes, content_type: str, used: set[str]
) -> ParsedAttachment:
    """A file found inside another (TNEF, a uuencoded block): a safe name, its type from
    what the container says or else from the name's extension."""
    filename = _safe_filename(name)
    ctype = content_type or _MIME_TYPES.guess_type(filename)[0] or "application/octet-stream"
    if not filename:
        filename = _unique_name(_generated_stem(ctype) + _extension(ctype), used)
    used.add(filename)
    return ParsedAttachment(
        filename=filename,
        content_type=ctype,
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        content_id="",
        inline=False,
        payload=payload,
    )


def _unique_name(name: str, used: set[str]) -> str:
    stem, dot, ext = name.rpartition(".")
    stem, ext = (stem, dot + ext) if stem else (name, "")
    candidate, number = name, 1
    while candidate in used:
        candidate, number = f"{stem}{number}{ext}", number + 1
    return candidate


def _attachment(leaf: _Leaf, filename: str) -> ParsedAttachment:
    payload = _attachment_payload(leaf)
    content_id = _content_id(leaf)
    inline = leaf.disposition == "inline" or (bool(content_id) and leaf.disposition != "attachment")
    return ParsedAttachment(
        filename=filename,
        content_type=leaf.ctype,
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        content_id=content_id,
        inline=inline,
        payload=payload,
    )


def _content_id(leaf: _Leaf) -> str:
    value = _header_str(_raw_get(leaf.part, "content-id"), ())
    return collapse_whitespace(value).strip("<> ")[:998]


def _attachment_payload(leaf: _Leaf) -> bytes:
    payload = leaf.part.get_payload()
    if not isinstance(payload, list):
        return _payload_bytes(leaf.part)
    # message/rfc822 holds one parsed message; message/delivery-status a list of
    # header blocks (RFC 3464). Serialise them back to bytes.
    return b"\n".join(_message_bytes(m) for m in payload if isinstance(m, Message))


def _message_bytes(message: Message) -> bytes:
    """The message as it arrived, near enough: stored header values and payloads are
    written back verbatim. The stdlib generator re-folds every header through
    email.header.Header, which cost more than the whole rest of the parse."""
    out: list[str] = []
    _write_message(message, out, 0)
    return "".join(out).encode("ascii", "surrogateescape")


def _write_message(message: Message, out: list[str], depth: int) -> None:
    for name, value in message._headers:  # type: ignore[attr-defined]  # typeshed omits _headers
        out.append(f"{name}: {_ascii_or_escaped(value)}\n")
    out.append("\n")
    payload = message.get_payload()
    if not isinstance(payload, list):
        out.append(_ascii_or_escaped(payload or ""))
        return
    if depth > MAX_DEPTH:
        return
    boundary = message.get_boundary() if message.is_multipart() else None
    if boundary is None or message.get_content_maintype() != "multipart":
        for inner in payload:
            if isinstance(inner, Message):
                _write_message(inner, out, depth + 1)
        return
    if message.preamble:
        out.append(message.preamble + "\n")
    for inner in payload:
        if isinstance(inner, Message):
            out.append(f"--{boundary}\n")
            _write_message(inner, out, depth + 1)
            out.append("\n")
    out.append(f"--{boundary}--\n")
    if message.epilogue:
        out.append(message.epilogue)


def _ascii_or_escaped(value: Any) -> str:
    # Values are ASCII with surrogate escapes for 8-bit bytes; anything else (a str the
    # stdlib built itself) is written as UTF-8 bytes in surrogate-escape form.
    text = value if isinstance(value, str) else str(value)
    if text.isascii():
        return text
    try:
        text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("ascii", "surrogateescape")
    return text


def _filename(leaf: _Leaf, hints: tuple[str, ...]) -> tuple[str, bool]:
    """(filename, generated). Nameless parts are named after what they hold: an
    attached message after its subject, Outlook's inline images after their Content-ID
    ("image001.jpg@01CD..."), others after Content-Description or their type."""
    if leaf.filename_raw:
        name = _safe_filename(decode_header_value(leaf.filename_raw, _part_hints(leaf, hints)))
        if name:
            return _with_required_extension(name, leaf.ctype), False
    ext = _extension(leaf.ctype)
    description = _description(leaf, hints)
    if leaf.is_message:
        return f"{_message_subject(leaf, hints) or description or 'message'}{ext}", False
    cid_name = _content_id(leaf).split("@", 1)[0]
    if _CID_FILENAME_RE.fullmatch(cid_name):
        return _safe_filename(cid_name), True
    if description:
        return (description if "." in description[-6:] else description + ext), True
    return _generated_stem(leaf.ctype) + ext, True


def _part_hints(leaf: _Leaf, hints: tuple[str, ...]) -> tuple[str, ...]:
    # Raw 8-bit bytes in filename= (no RFC 2231 or 2047) are decoded as UTF-8, then in the
    # charset the part itself declares, then the message's, then cp1252 (_decode_unlabelled).
    own = _param(leaf.part, "charset")
    return (own, *hints) if own and own not in hints else hints


def _with_required_extension(name: str, ctype: str) -> str:
    # Calendar parts and attached messages are opened by extension downstream; a name
    # that has an extension of its own is kept (imap_tools attachment_7bit sends a
    # .docx labelled message/rfc822).
    ext = {"text/calendar": ".ics", "message/rfc822": ".eml"}.get(ctype)
    return name + ext if ext and "." not in name[-6:] else name


def _description(leaf: _Leaf, hints: tuple[str, ...]) -> str:
    text = _safe_filename(decode_header_value(_raw_get(leaf.part, "content-description"), hints))
    return text if len(text) <= 100 else ""


def _generated_stem(ctype: str) -> str:
    if ctype in _GENERATED_STEMS:
        return _GENERATED_STEMS[ctype]
    major = ctype.split("/", 1)[0]
    return major if major in ("image", "video", "audio", "message") else "attachment"


@functools.lru_cache(maxsize=128)
def _extension(ctype: str) -> str:
    return _EXTENSIONS.get(ctype) or _MIME_TYPES.guess_extension(ctype) or ".bin"


def _message_subject(leaf: _Leaf, hints: tuple[str, ...]) -> str:
    inner = leaf.inner_message()
    subject = _raw_get(inner, "subject") if inner is not None else ""
    return _safe_filename(collapse_whitespace(decode_header_value(subject, hints)))[:100]


def _safe_filename(name: str) -> str:
    # Keep only the last path component that names something: "..\\..\\boot.ini",
    # "C:\\temp\\y.png", "c:y.png" and "/etc/passwd" come from Windows clients, archivers
    # and attackers alike, and "reports/" still means "reports". NFC because macOS sends
    # decomposed names ("e" + U+0301) that would otherwise not match what users type.
    name = _FILENAME_SPACE_RE.sub(" ", _UNSAFE_FILENAME_RE.sub("", name)).replace("\ufffd", "")
    name = _DRIVE_RE.sub("", name.replace("\\", "/"))
    parts = [p.strip(" .") for p in name.split("/")]
    name = next((p for p in reversed(parts) if p), "")
    return unicodedata.normalize("NFC", name)[:255]
