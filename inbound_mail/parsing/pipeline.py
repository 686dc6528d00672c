"""The entry points parse_message and parse_header_block, and the primary stage they run
first: the stdlib parser (compat32) with repairs for broken header blocks and folded
boundaries, then the MIME walk, header fields, bodies, attachments (with the files inside
them) and classification."""

from __future__ import annotations

import email
import email.errors
import email.parser
import email.policy
import logging
import re
from email.message import Message
from typing import Any

from inbound_mail.parsing.bodies import _fill_bodies
from inbound_mail.parsing.charsets import _charset_hints
from inbound_mail.parsing.classification import _classify
from inbound_mail.parsing.fallbacks import _parse_headers_only, _parse_mailparser
from inbound_mail.parsing.header_fields import _fill_headers
from inbound_mail.parsing.headers import header_block_start
from inbound_mail.parsing.limits import MAX_BOUNDARY_LINES
from inbound_mail.parsing.message import ParsedMessage
from inbound_mail.parsing.mime import _param, _Walk
from inbound_mail.parsing.unpacking import _append_forwarded_html, _unpack

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- public API


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse raw mail bytes; never raises, whatever the input."""
    raw = _coerce_bytes(raw)
    # The stages read from the header block on; the caller's bytes stay as they are.
    start, skipped = header_block_start(raw)
    data = raw[start:] if start else raw
    defects = [f"skipped before the header block: {', '.join(skipped)}"] if skipped else []
    stages = (
        ("stdlib parser", _parse_stdlib),
        ("mail-parser", _parse_mailparser),
        ("header-only parser", _parse_headers_only),
    )
    for label, stage in stages:
        try:
            parsed = stage(data)
        except Exception as exc:  # hostile mail must never crash a worker
            logger.info("inbound mail %s failed: %r", label, exc)
            defects.append(f"{label} failed: {type(exc).__name__}")
            continue
        parsed.defects[:0] = defects
        parsed.size, parsed.skipped_before_headers = len(raw), skipped
        return parsed
    return ParsedMessage(size=len(raw), defects=defects, skipped_before_headers=skipped)


def parse_header_block(block: bytes) -> ParsedMessage:
    """parse_message(block) for a header section alone (intake's summary), without the body
    work that a block without a body does not need: MIME structure, bodies, attachments,
    bounce and auto-reply checks. Its header fields depend on the headers and the charset
    hints, which for a body-less, non-message/* root are the root's own charset. Whatever
    would send the full parse elsewhere gets the full parse: a header line it repairs, a
    folded boundary it unfolds, a body after all, a message/* root, any exception."""
    block = _coerce_bytes(block)
    start, skipped = header_block_start(block)
    data = _bound_boundary_lines(block[start:].lstrip(b"\r\n"), [])
    try:
        root = _HEADERS_ONLY.parsebytes(data, headersonly=True)
        if not _header_fields_suffice(root, data):
            return parse_message(block)
        msg = ParsedMessage(skipped_before_headers=skipped)
        charset = _param(root, "charset")
        _fill_headers(msg, root, _charset_hints([charset] if charset else []))
    except Exception:  # the full parse meets it too, and handles it
        return parse_message(block)
    return msg


_HEADERS_ONLY = email.parser.BytesParser(policy=email.policy.compat32)


def _header_fields_suffice(root: Message, data: bytes) -> bool:
    return not (
        any(isinstance(d, email.errors.MissingHeaderBodySeparatorDefect) for d in root.defects)
        or root.get_payload().strip()  # type: ignore[union-attr]  # headersonly: always a str
        or root.get_content_maintype() == "message"
        or _FOLDED_BOUNDARY_RE.search(data)
    )


def _coerce_bytes(raw: Any) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


# --------------------------------------------------------------------------- primary path


def _parse_stdlib(raw: bytes) -> ParsedMessage:
    defects: list[str] = []
    # Leading blank lines (mailbox exports, the Discourse inline_reply fixture) would
    # otherwise end an empty header block at once and turn the headers into body.
    data = _bound_boundary_lines(raw.lstrip(b"\r\n"), defects)
    try:
        root = _parse_bytes(data)
    except RecursionError:
        # The stdlib parser recurses per multipart level; ~1000 levels exhaust the stack.
        defects.append("MIME nesting too deep for the parser; body not parsed")
        root = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
            data, headersonly=True
        )
        root.set_payload("")
    msg = ParsedMessage(size=len(raw), defects=defects)
    walk = _Walk()
    walk.run(root)
    msg.defects.extend(walk.defects)
    hints = _charset_hints(walk.charsets)
    _fill_headers(msg, root, hints)
    _fill_bodies(msg, walk)
    unpacked = _unpack(msg, walk, hints)
    msg.attachments = unpacked.attachments
    _classify(msg, root, walk)
    _append_forwarded_html(msg, unpacked.forwarded_html)
    return msg


def _parse_bytes(data: bytes) -> Message:
    root = email.message_from_bytes(data, policy=email.policy.compat32)
    defects = {type(d).__name__ for d in root.defects}
    repaired = None
    if "MissingHeaderBodySeparatorDefect" in defects:
        repaired = _repair_header_block(data)
    elif "StartBoundaryNotFoundDefect" in defects:
        repaired = _repair_folded_boundary(data)
    if repaired is not None:
        root = email.message_from_bytes(repaired, policy=email.policy.compat32)
    return root


_FOLDED_BOUNDARY_RE = re.compile(
    rb'(boundary\s*=\s*"[^"\r\n]{0,200})\r?\n([ \t][^"\r\n]{0,200}")', re.I
)


def _repair_folded_boundary(data: bytes) -> bytes | None:
    # A quoted boundary folded over two lines (Dovecot test thirdparty/012): unfolding
    # (RFC 5322 2.2.3) makes it "foo bar"; the stdlib keeps the line break in it.
    repaired, count = _FOLDED_BOUNDARY_RE.subn(rb"\1\2", data[:200_000], count=5)
    return repaired + data[200_000:] if count else None


_HEADER_LINE_RE = re.compile(rb"^[!-9;-~]{1,76}:")


def _repair_header_block(data: bytes) -> bytes | None:
    """Fold stray lines inside the header block into the previous field.

    Gateways sometimes break a long field without folding whitespace (Zammad mail054:
    a base64 X-Brightmail-Tracker split over lines). The stdlib then ends the headers
    at that line and From/Subject below it land in the body. A stray line is folded
    only when real header fields follow it before the blank line."""
    end = min((i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if i >= 0), default=-1)
    if end < 0 or end > 1_000_000:
        return None
    lines = data[:end].split(b"\n")
    last_header = max(
        (i for i, line in enumerate(lines) if _HEADER_LINE_RE.match(line)), default=-1
    )
    changed = False
    for index, line in enumerate(lines[:last_header]):
        if index and line.strip() and line[:1] not in b" \t" and not _HEADER_LINE_RE.match(line):
            lines[index] = b" " + line
            changed = True
    return b"\n".join(lines) + data[end:] if changed else None


def _bound_boundary_lines(raw: bytes, defects: list[str]) -> bytes:
    """Cut the input after MAX_BOUNDARY_LINES lines that look like MIME boundaries, so a
    message of a million tiny parts cannot make the parser build a million objects."""
    if raw.count(b"\n--") <= MAX_BOUNDARY_LINES:
        return raw
    pos = 0
    for _ in range(MAX_BOUNDARY_LINES):
        pos = raw.find(b"\n--", pos) + 3
    defects.append(f"more than {MAX_BOUNDARY_LINES} boundary lines; message truncated")
    return raw[:pos]
