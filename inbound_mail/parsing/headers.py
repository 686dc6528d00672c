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


_ID_RE = re.compile(r"<([^<>]{1,998})>")
_ID_SPACE_RE = re.compile(r"\s+")
# After unfolding, a quoted-printable soft line break ("=" CRLF) inside an id reads "= ".
_QP_SOFT_BREAK_RE = re.compile(r"=\s+")
_QP_OCTET_RE = re.compile(r"=([2-7][0-9A-Fa-f])")


def _message_ids(value: str, limit: int = MAX_IDS, *, variants: bool = False) -> list[str]:
    """Message ids without brackets. Some clients omit the brackets (RFC 5322 3.6.4
    requires them); then whitespace-separated tokens with an @ are taken.

    Clients and gateways mangle the ids of In-Reply-To and References: RFC 2047
    encoded-words (`=?utf-8?q?<a=40b>?=`), folding inside an id, or quoted-printable
    applied to the header (`=40` for "@", `=3D` for "="). Encoded-words are decoded and
    whitespace inside the brackets dropped. A quoted-printable id without an "@" is
    decoded; one with an "@" may be a real id holding "=" (Gmail's do), so with
    `variants` both forms are kept, the decoded one first."""
    if not value:
        return []
    if "=?" in value:
        value = decode_header_value(value)
    ids = [_ID_SPACE_RE.sub("", _QP_SOFT_BREAK_RE.sub("", i)) for i in _ID_RE.findall(value)]
    if not ids:
        ids = [t.strip("<>,;\"'") for t in value.split() if "@" in t or "=40" in t]
    forms = [form for i in ids if i for form in _id_forms(i.replace("\x00", ""), variants)]
    unique = list(dict.fromkeys(f for f in forms if f))
    if len(unique) > limit:
        # Keep the thread root and the most recent ancestors (RFC 5322 3.6.4 order).
        unique = unique[:1] + unique[-(limit - 1) :] if limit > 1 else unique[:1]
    return unique


def _id_forms(message_id: str, variants: bool) -> list[str]:
    if "=" not in message_id:
        return [message_id]
    decoded = _QP_OCTET_RE.sub(lambda m: chr(int(m.group(1), 16)), message_id)
    if decoded == message_id or "@" not in decoded:
        return [message_id]
    if "@" not in message_id:
        return [decoded]
    return [decoded, message_id] if variants else [message_id]


def decode_thread_index(value: str) -> bytes:
    """Outlook's Thread-Index ([MS-OXOMSG] 2.2.1.3): base64 of a 22-byte header block that
    names the conversation and a 5-byte child block per reply. Gateways mangle it like the
    ids (`=3D=3D` for the padding, `&#43;` for "+"); b"" when too short to name one."""
    text = value[:2000].replace("&#43;", "+").replace("&#47;", "/").replace("&#61;", "=")
    if "=?" in text:
        text = decode_header_value(text)
    decoded = _lenient_b64(_QP_OCTET_RE.sub(lambda m: chr(int(m.group(1), 16)), text))
    return decoded if len(decoded) >= 22 else b""


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


# -- where the header block starts --------------------------------------------------------

_BOM = b"\xef\xbb\xbf"
_HEADER_LINE_RE = re.compile(rb"^[!-9;-~]{1,76}:")
# Lines a gateway or an export may put before the headers, and the header lines read to
# confirm that what follows them is a header block.
MAX_LEADING_LINES = 20
MAX_CONFIRM_LINES = 40
# A skipped banner must be followed by a block holding one of these, or it is not a header
# block but text (a body pasted without headers stays what it was).
_KNOWN_FIELDS = frozenset(
    b"from to cc subject date message-id received return-path delivered-to mime-version "
    b"content-type reply-to sender x-original-to".split()
)


def header_block_start(raw: bytes) -> tuple[int, list[str]]:
    """Where the header block starts, and what was skipped before it.

    Mail does not always start with its headers: a UTF-8 byte order mark from an editor,
    leading blank lines (mailbox exports), an mbox "From " line left in place, a banner a
    gateway adds ("---- Original email message ----"). Like lenient parsers (mail-parser,
    Mail::Message), these are skipped up to the first "Name: value" line that more header
    lines follow. When no such block turns up, the input is read from its start as before."""
    pos, skipped = (3, ["UTF-8 byte order mark"]) if raw.startswith(_BOM) else (0, [])
    if _HEADER_LINE_RE.match(raw[pos : pos + 80]):
        return pos, skipped
    notes: list[str] = []
    blank = banner = 0
    cursor = pos
    for _ in range(MAX_LEADING_LINES):
        end = raw.find(b"\n", cursor)
        if end < 0:
            break
        line = raw[cursor:end].rstrip(b"\r")
        indent = len(line) - len(line.lstrip(b" \t"))
        if indent and line.strip() and _HEADER_LINE_RE.match(line[indent:]):
            # A first field indented as if folded (enmime's bad-header-start): nothing to fold
            # it into, so it is read from its name on.
            notes.append("whitespace before the first field")
            cursor, line = cursor + indent, line[indent:]
        if _HEADER_LINE_RE.match(line) and _confirmed(raw, cursor, strict=banner > 0):
            return cursor, skipped + _skipped_notes(blank, notes)
        if not line.strip():
            blank += 1
        elif line.startswith(b"From ") and not notes and not banner:
            notes.append("mbox From_ line")
        else:
            banner += 1
            notes.append(f"banner line {line[:80].decode('utf-8', 'replace')!r}")
        cursor = end + 1
    return pos, skipped


def _skipped_notes(blank: int, notes: list[str]) -> list[str]:
    lines = [f"{blank} blank line{'s' if blank > 1 else ''}"] if blank else []
    return [*lines, *notes]


def _confirmed(raw: bytes, start: int, *, strict: bool) -> bool:
    """Header lines from `start` to the blank line: two at least, one a field every message
    has, when banner lines were skipped; any header line otherwise."""
    if not strict:
        return True
    names: list[bytes] = []
    for line in raw[start : start + 64 * 1024].split(b"\n")[:MAX_CONFIRM_LINES]:
        line = line.rstrip(b"\r")
        if not line.strip():
            break
        if line[:1] in b" \t":
            continue
        if not _HEADER_LINE_RE.match(line):
            return False
        names.append(line.split(b":", 1)[0].strip().lower())
    return len(names) >= 2 and any(n in _KNOWN_FIELDS for n in names)
