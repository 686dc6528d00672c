"""uuencoded files in a plain-text body (`begin 644 name` ... `end`, as old clients, scripts
and some gateways still send them): cut out of the text and decoded, for attachments."""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field

# POSIX uuencode: "begin <octal mode> <name>"; lines of length-prefixed groups; a line
# holding only "`" (or a space), then "end".
_BEGIN_RE = re.compile(r"^begin [0-7]{3,4} ([^\n]{1,400})$", re.M)
_END_RE = re.compile(r"^end[ \t]*$", re.M)
_UU_LINE_RE = re.compile(r"[ -`]{1,62}")


@dataclass
class UuFile:
    filename: str
    payload: bytes = field(repr=False)


def cut_uuencoded(text: str, *, max_files: int) -> tuple[str, list[UuFile]]:
    """(text without its uuencoded blocks, the files they held). A block that does not
    decode line by line stays in the text as it is."""
    if "begin " not in text or max_files <= 0:
        return text, []
    files: list[UuFile] = []
    out: list[str] = []
    pos = 0
    for begin in _BEGIN_RE.finditer(text):
        if begin.start() < pos or len(files) >= max_files:
            continue
        end = _END_RE.search(text, begin.end())
        if end is None:
            break
        payload = _decode_lines(text[begin.end() : end.start()])
        if payload is None:
            continue
        files.append(UuFile(begin.group(1).strip(), payload))
        out.append(text[pos : begin.start()])
        pos = end.end() + 1
    if not files:
        return text, []
    out.append(text[pos:])
    return "".join(out), files


def _decode_lines(block: str) -> bytes | None:
    chunks: list[bytes] = []
    for line in block.strip("\n").split("\n"):
        line = line.rstrip("\r")
        if not line or line in ("`", " "):
            continue
        if not _UU_LINE_RE.fullmatch(line):
            return None
        try:
            chunks.append(_decode_line(line))
        except binascii.Error:
            return None
    return b"".join(chunks)


def _decode_line(line: str) -> bytes:
    data = line.encode("ascii")
    try:
        return binascii.a2b_uu(data)
    except binascii.Error:
        # Encoders that pad the last line with extra characters (the workaround the
        # stdlib's old uu module used): decode only as many as the length byte says.
        count = (((data[0] - 32) & 63) * 4 + 5) // 3
        return binascii.a2b_uu(data[:count])
