"""Header decoding: raw 8-bit header text, unfolding, RFC 2047 encoded-words, message ids
and dates."""

from __future__ import annotations

import base64
import binascii
import email.utils
import re
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from inbound_mail.parsing.charsets import _decode_unlabelled, decode_bytes
from inbound_mail.parsing.limits import MAX_HEADER_CHARS, MAX_IDS


def _header_dict(root: Message, hints: tuple[str, ...]) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    # stored pairs: get() turns 8-bit values into Header
    for name, value in root._headers:  # type: ignore[attr-defined]  # typeshed omits _headers
        key = _header_str(str(name), ()).strip().lower()
        if key:
            headers.setdefault(key, []).append(_unfold(_header_str(value, hints)))
    return headers


def _unfold(value: str) -> str:
    # RFC 5322 2.2.3: unfolding removes the CRLF before folding whitespace.
    if "\n" in value or "\r" in value or "\x00" in value:
        value = _FOLD_RE.sub("", value).replace("\x00", "")
        value = value.replace("\r", " ").replace("\n", " ")
    return value.strip()


_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")


def _header_str(value: Any, hints: tuple[str, ...]) -> str:
    """Raw header text; 8-bit bytes (kept by the parser as surrogate escapes) are decoded
    as UTF-8, then with the charsets the message declares, then cp1252."""
    if not isinstance(value, str):
        value = str(value)
    if value.isascii():
        return value
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return _strip_surrogates(value)
    return _decode_unlabelled(data, hints)


def _strip_surrogates(value: str) -> str:
    return value.encode("utf-8", "replace").decode("utf-8")


# The text may hold "?" (not allowed, but Zammad mail117 and the Mail gem accept it);
# bounded so a header full of "=?x?q?" without terminators stays linear.
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?(.{0,1000}?)\?=")
_WS_ONLY_RE = re.compile(r"[ \t\r\n]*")


def decode_header_value(value: str, hints: tuple[str, ...] = ()) -> str:
    """Decode RFC 2047 encoded-words. Adjacent words in one charset are joined before
    decoding, because clients split multibyte characters across words (Outlook with
    GB2312 and ISO-2022-JP), and whitespace between encoded-words is dropped (6.2)."""
    value = _header_str(value[:MAX_HEADER_CHARS], hints)
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    pos = 0
    for match in _ENCODED_WORD_RE.finditer(value):
        between = value[pos : match.start()]
        if between and not (pending and _WS_ONLY_RE.fullmatch(between)):
            out.append(_flush_words(pending, pending_charset))
            out.append(between)
            pending = []
        charset = match.group(1).split("*", 1)[0].lower()
        if pending and charset != pending_charset:
            out.append(_flush_words(pending, pending_charset))
            pending = []
        pending.append(_word_bytes(match.group(2), match.group(3)))
        pending_charset = charset
        pos = match.end()
    out.append(_flush_words(pending, pending_charset))
    out.append(value[pos:])
    return "".join(out)


def _flush_words(pending: list[bytes], charset: str) -> str:
    return decode_bytes(b"".join(pending), charset) if pending else ""


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "qQ":
        return binascii.a2b_qp(text.replace("_", " ").encode("utf-8", "replace"))
    return _lenient_b64(text)


_NON_B64_RE = re.compile(r"[^A-Za-z0-9+/]")


def _lenient_b64(text: str) -> bytes:
    cleaned = _NON_B64_RE.sub("", text)
    if len(cleaned) % 4 == 1:  # one stray character can never decode; drop it
        cleaned = cleaned[:-1]
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        return b""


_CONTROL_RE = re.compile(r"[\s\x00-\x1f\x7f]+")


def collapse_whitespace(value: str) -> str:
    """One line of text: CR, LF, tabs and other controls become single spaces, so a
    decoded subject cannot inject header lines."""
    return _CONTROL_RE.sub(" ", value).strip()


_ID_RE = re.compile(r"<([^<>\s]{1,998})>")


def _message_ids(value: str, limit: int = MAX_IDS) -> list[str]:
    """Message ids without brackets. Some clients omit the brackets (RFC 5322 3.6.4
    requires them); then whitespace-separated tokens with an @ are taken."""
    if not value:
        return []
    ids = _ID_RE.findall(value)
    if not ids:
        ids = [t.strip("<>,;\"'") for t in value.split() if "@" in t]
    ids = [i.replace("\x00", "") for i in ids if i]
    unique = list(dict.fromkeys(ids))
    if len(unique) > limit:
        # Keep the thread root and the most recent ancestors (RFC 5322 3.6.4 order).
        unique = unique[:1] + unique[-(limit - 1) :] if limit > 1 else unique[:1]
    return unique


def parse_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(_header_str(value, ()).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    try:
        if parsed.tzinfo is None:
            # RFC 5322 3.3: "-0000" means the zone is unknown; read it as UTC.
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
