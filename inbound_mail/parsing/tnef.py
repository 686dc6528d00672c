"""TNEF (Outlook's winmail.dat, application/ms-tnef): the files inside it and its bodies,
read with tnefparse after a bounds check of our own.

tnefparse trusts the counts it reads: a property count or a multi-value count of 2**32
makes it loop that many times (appending an object per round for fixed-size values), each
embedded message is parsed again from a copy, and every object is read from a copy of the
rest of the stream. So a stream is first walked here with the same rules, and one whose
counts cannot fit in its bytes, whose embedding is deep, or whose parse would copy too
much is not unpacked at all: the caller keeps it whole with a note."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import tnefparse
from tnefparse import properties as mapi_ids

from inbound_mail.parsing.charsets import decode_bytes
from inbound_mail.parsing.limits import MAX_PARTS

TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"  # 0x223E9F78, little-endian ([MS-OXTNEF] 2.1.3.1)
IMESSAGE_SIGNATURE = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
# A message attached to a message attached to the mail is as deep as Outlook goes in practice.
MAX_TNEF_DEPTH = 2
# Bytes tnefparse copies while reading (the rest of the stream, once per object): a 25 MB
# winmail.dat with its usual 20 to 40 objects stays well under this.
MAX_TNEF_COPY = 1_000_000_000

_OBJECT_HEAD = struct.Struct("<BHHI")  # level, attribute id, attribute type, length
_U16_PAIR = struct.Struct("<HH")
_U32 = struct.Struct("<I")
_ATT_MAPI_PROPS, _ATT_RECIPIENTS, _ATT_ATTACHMENT = 0x9003, 0x9004, 0x9005
_MULTI_VALUE, _NAMED = 0x1000, 0x8000
_FIXED_SIZES = {0x0002: 2, 0x000B: 2, 0x0003: 4, 0x0004: 4, 0x000A: 4, 0x0048: 16}
_FIXED_SIZES |= dict.fromkeys((0x0005, 0x0007, 0x0006, 0x0014, 0x0040), 8)
_VARIABLE = frozenset({0x001E, 0x001F, 0x000D, 0x0102, 0x0000})
_PT_OBJECT, _PT_BINARY = 0x000D, 0x0102


@dataclass
class TnefFile:
    filename: str
    content_type: str
    payload: bytes = field(repr=False)


@dataclass
class TnefContents:
    files: list[TnefFile] = field(default_factory=list)
    text: str = ""
    html: str = ""
    problem: str = ""  # why it was not unpacked, or what was left out


def is_tnef(ctype: str, filename: str, payload: bytes) -> bool:
    """Outlook labels it application/ms-tnef; relays often relabel it octet-stream but
    keep the name, so winmail.dat with the TNEF signature counts too."""
    if ctype in TNEF_TYPES:
        return True
    return filename.lower() in ("winmail.dat", "win.dat") and payload[:4] == TNEF_SIGNATURE


def unpack_tnef(data: bytes, *, max_files: int = MAX_PARTS) -> TnefContents:
    """The files and bodies inside a TNEF stream; never raises. A stream that is corrupt
    or too costly to read comes back empty with its problem named."""
    problem, cut_short = _scan(data)
    if problem:
        return TnefContents(problem=problem)
    try:
        tnef = tnefparse.TNEF(data, do_checksum=False)
        files = _files(tnef, 0, max_files)
        contents = TnefContents(files=files, text=_body_text(tnef), html=_body_html(tnef))
    except Exception as exc:  # corrupt streams raise anything from struct.error to KeyError
        return TnefContents(problem=f"TNEF not readable ({type(exc).__name__})")
    if len(files) >= max_files:
        contents.problem = f"more than {max_files} files inside; the rest not listed"
    elif cut_short:
        contents.problem = "TNEF stream cut short; only the files it holds whole are listed"
    return contents


# -- reading, once the structure is known to be bounded ---------------------------------------


def _files(tnef: Any, depth: int, max_files: int) -> list[TnefFile]:
    files: list[TnefFile] = []
    for attachment in tnef.attachments:
        if len(files) >= max_files:
            break
        embedded = getattr(attachment, "embed", None)
        if embedded is not None:
            # An attached Outlook item (a forwarded mail): its own files are the useful part.
            if depth < MAX_TNEF_DEPTH:
                files.extend(_files(embedded, depth + 1, max_files - len(files)))
            continue
        payload = attachment.data if isinstance(attachment.data, bytes) else b""
        if payload:
            name = _name(attachment, tnef.codepage or "cp1252")
            files.append(TnefFile(name, _mime_tag(attachment), payload))
    return files[:max_files]


def _name(attachment: Any, codepage: str) -> str:
    try:
        name = attachment.long_filename()
    except UnicodeDecodeError:  # tnefparse decodes the short name as strict UTF-8
        name = getattr(attachment, "_name", b"")
    if isinstance(name, bytes):
        name = decode_bytes(name.rstrip(b"\x00"), codepage)
    return str(name or "").strip("\x00")


def _mime_tag(attachment: Any) -> str:
    for attr in attachment.mapi_attrs:
        if attr.name == mapi_ids.MAPI_ATTACH_MIME_TAG:
            value = attr.data
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
            text = text.strip("\x00 ").lower()
            if text.count("/") == 1 and len(text) <= 127 and text.isascii():
                return text
    return ""


def _body_text(tnef: Any) -> str:
    return _as_text(tnef.body, tnef.codepage or "cp1252")


def _body_html(tnef: Any) -> str:
    return _as_text(tnef.htmlbody, "")


def _as_text(value: Any, charset: str) -> str:
    if isinstance(value, bytes):
        return decode_bytes(value.rstrip(b"\x00"), charset)
    if isinstance(value, list):  # a multi-valued property: tnefparse keeps the list
        return "\n".join(_as_text(v, charset) for v in value)
    return str(value or "").strip("\x00")


# -- the bounds check: the same walk as tnefparse, counting instead of building ---------------


class _Corrupt(Exception):
    """A count or an embedding that no real TNEF stream has."""


def structure_problem(data: bytes) -> str:
    """ "" when tnefparse can read `data` in bounded time and memory, else the reason."""
    return _scan(data)[0]


def _scan(data: bytes) -> tuple[str, bool]:
    """(the reason tnefparse must not read it or "", whether the stream is cut short: its
    last object claims more bytes than there are, which tnefparse accepts without a word)."""
    if data[:4] != TNEF_SIGNATURE:
        return "not a TNEF stream (no signature)", False
    try:
        return "", _check_objects(memoryview(data), 0)
    except _Corrupt as exc:
        return f"TNEF not unpacked: {exc}", False


def _check_objects(data: memoryview, depth: int) -> bool:
    offset, copied, size, cut = 6, 0, len(data), False
    while offset + 12 < size:  # tnefparse's loop condition (MIN_OBJ_SIZE)
        copied += size - offset
        if copied > MAX_TNEF_COPY:
            raise _Corrupt("too many objects for its size")
        _level, name, _kind, length = _OBJECT_HEAD.unpack_from(data, offset)
        cut = offset + length + 11 > size
        end = min(size, offset + length + 11)
        body = data[offset + 9 : max(offset + 9, end - 2)]
        if name in (_ATT_MAPI_PROPS, _ATT_ATTACHMENT):
            _check_properties(body, 0, depth)
        elif name == _ATT_RECIPIENTS and len(body) >= 4:
            _check_recipients(body, depth)
        offset = end
    return cut or 6 < size < 6 + 12


def _check_recipients(body: memoryview, depth: int) -> None:
    rows = _U32.unpack_from(body, 0)[0]
    if rows > len(body) // 4:
        raise _Corrupt("recipient count larger than the data")
    offset = 4
    for _ in range(rows):
        if offset + 4 > len(body):
            return  # tnefparse raises here, and the caller keeps the stream whole
        offset = _check_properties(body, offset, depth)


def _check_properties(body: memoryview, offset: int, depth: int) -> int:
    size = len(body)
    if offset + 4 > size:
        return size
    count = _U32.unpack_from(body, offset)[0]
    offset += 4
    if count > (size - offset) // 4 + 1:
        raise _Corrupt("property count larger than the data")
    try:
        for _ in range(count):
            if offset >= size:
                break
            offset = _check_property(body, offset, depth)
    except (struct.error, ValueError):
        return size  # tnefparse stops reading this block at the same point
    return offset


def _check_property(body: memoryview, offset: int, depth: int) -> int:
    kind, name = _U16_PAIR.unpack_from(body, offset)
    offset += 4
    if name >= _NAMED:
        offset += 16
        named_kind = _U32.unpack_from(body, offset)[0]
        offset += 4
        if named_kind == 0:
            offset += 4
        else:
            length = _U32.unpack_from(body, offset)[0]
            offset += 4 + length + (-length % 4)
    values = None
    if kind & _MULTI_VALUE:
        kind ^= _MULTI_VALUE
        values = _U32.unpack_from(body, offset)[0]
        offset += 4
        if values > (len(body) - offset) // 2 + 1:
            raise _Corrupt("value count larger than the data")
    for _ in range(values or 1):
        offset = _check_value(body, offset, kind, name, multi=values is not None, depth=depth)
    if (values or 1) % 2 and kind in (0x0002, 0x000B):
        offset += 2
    return offset


def _check_value(
    body: memoryview, offset: int, kind: int, name: int, *, multi: bool, depth: int
) -> int:
    if kind in _FIXED_SIZES:
        return offset + _FIXED_SIZES[kind]
    if kind not in _VARIABLE:
        raise ValueError(kind)  # tnefparse raises ValueError("Unknown MAPI type") too
    count = 1 if multi else _U32.unpack_from(body, offset)[0]
    offset += 0 if multi else 4
    if count > (len(body) - offset) // 4 + 1:
        raise _Corrupt("value count larger than the data")
    for _ in range(count):
        length = _U32.unpack_from(body, offset)[0]
        offset += 4
        item = body[offset : offset + length]
        if kind in (_PT_OBJECT, _PT_BINARY) and name == mapi_ids.MAPI_ATTACH_DATA_OBJ:
            _check_embedded(item, depth)
        offset += length + (-length % 4)
    return offset


def _check_embedded(item: memoryview, depth: int) -> None:
    if bytes(item[:16]) != IMESSAGE_SIGNATURE:
        return
    if depth >= MAX_TNEF_DEPTH:
        raise _Corrupt(f"messages embedded more than {MAX_TNEF_DEPTH} deep")
    inner = item[16:]
    if bytes(inner[:4]) != TNEF_SIGNATURE:
        raise _Corrupt("embedded message without a TNEF signature")
    _check_objects(inner, depth + 1)
