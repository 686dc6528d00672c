"""The MIME walk: body selection after RFC 8621 (_Walk, _Leaf), content types, header
parameters with their RFC 2231 values, and a part's transfer-decoded payload."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from inbound_mail.parsing.charsets import decode_bytes
from inbound_mail.parsing.limits import MAX_DEPTH, MAX_PARTS


@dataclass
class _Leaf:
    part: Message
    ctype: str
    index: int
    disposition: str
    filename_raw: str
    text_cache: str | None = None
    # (filename, bytes) of the uuencoded blocks cut from this text leaf (bodies._leaf_text).
    uuencoded: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def is_message(self) -> bool:
        return self.ctype in ("message/rfc822", "message/global")

    def inner_message(self) -> Message | None:
        payload = self.part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0]
        return None


_INLINE_MEDIA = ("image/", "audio/", "video/")
_TEXT_TYPES = ("text/plain", "text/html")


class _Walk:
    """Body selection after RFC 8621 4.1.4 (JMAP textBody/htmlBody/attachments), with
    explicit depth and part-count limits. A walk inside an attached message gets the
    parts the outer walks left (`max_parts`), so nesting does not multiply the limit."""

    def __init__(self, max_parts: int = MAX_PARTS) -> None:
        self.max_parts = max_parts
        self.text_body: list[_Leaf] = []
        self.html_body: list[_Leaf] = []
        self.attachments: list[_Leaf] = []
        self.all_parts: list[Message] = []
        self.charsets: list[str] = []
        self.defects: list[str] = []
        self._count = 0
        self._leaves = 0

    def run(self, root: Message) -> None:
        self._note(root)
        ctype = _content_type(root)
        if ctype.startswith("multipart/"):
            subtype = ctype.split("/", 1)[1]
            self._structure(self._children(root, 1), subtype, subtype == "alternative", 1)
        else:
            self._structure([root], "mixed", False, 0)
        self._collect_defects()
        self.attachments = self._non_body_leaves()

    def _non_body_leaves(self) -> list[_Leaf]:
        # Attachments are every leaf except the text parts chosen as bodies; inline
        # images that RFC 8621 lists inside the bodies are attachments for us.
        body_ids = {id(x) for x in self.text_body + self.html_body if x.ctype in _TEXT_TYPES}
        leaves = {x.index: x for x in self.attachments + self.text_body + self.html_body}
        return [x for _, x in sorted(leaves.items()) if id(x) not in body_ids]

    def _children(self, part: Message, depth: int) -> list[Message]:
        payload = part.get_payload()
        if not isinstance(payload, list):
            return []
        if depth > MAX_DEPTH:
            self.defects.append(f"MIME nesting deeper than {MAX_DEPTH}; inner parts ignored")
            return []
        children = []
        for child in payload:
            if self._count >= self.max_parts:
                self.defects.append(f"more than {MAX_PARTS} MIME parts; the rest ignored")
                break
            if isinstance(child, Message):
                self._note(child)
                children.append(child)
        return children

    def _note(self, part: Message) -> None:
        self._count += 1
        self.all_parts.append(part)
        charset = _param(part, "charset")
        if charset and charset not in self.charsets and len(self.charsets) < 20:
            self.charsets.append(charset)

    def _structure(
        self, parts: list[Message], multipart: str, in_alternative: bool, depth: int
    ) -> None:
        text: list[_Leaf] | None = self.text_body
        html: list[_Leaf] | None = self.html_body
        text_len, html_len = len(self.text_body), len(self.html_body)
        for i, part in enumerate(parts):
            ctype = _content_type(part)
            if ctype.startswith("multipart/"):
                sub = ctype.split("/", 1)[1]
                children = self._children(part, depth + 1)
                self._structure(children, sub, in_alternative or sub == "alternative", depth + 1)
                continue
            leaf = self._leaf(part, ctype)
            if not self._is_inline(leaf, i, multipart):
                self.attachments.append(leaf)
            elif multipart == "alternative":
                self._add_alternative(leaf)
            else:
                if in_alternative and ctype == "text/plain":
                    html = None
                if in_alternative and ctype == "text/html":
                    text = None
                for body in (text, html):
                    if body is not None:
                        body.append(leaf)
                if (text is None or html is None) and ctype.startswith(_INLINE_MEDIA):
                    self.attachments.append(leaf)
        if multipart == "alternative":
            self._balance(text_len, html_len)

    def _note_inner_charsets(self, part: Message) -> None:
        # Headers of a forwarded or spam-wrapped message often carry raw 8-bit text in
        # the charset its inner parts declare (Zammad mail046); collect those as hints.
        payload = part.get_payload()
        stack = [m for m in payload if isinstance(m, Message)] if isinstance(payload, list) else []
        for _ in range(50):
            if not stack:
                break
            inner = stack.pop()
            charset = _param(inner, "charset")
            if charset and charset not in self.charsets and len(self.charsets) < 20:
                self.charsets.append(charset)
            inner_payload = inner.get_payload()
            if isinstance(inner_payload, list):
                stack.extend(m for m in inner_payload[:20] if isinstance(m, Message))

    def _leaf(self, part: Message, ctype: str) -> _Leaf:
        if ctype in ("message/rfc822", "message/global"):
            self._note_inner_charsets(part)
        disposition = _raw_get(part, "content-disposition").split(";", 1)[0]
        self._leaves += 1
        return _Leaf(part, ctype, self._leaves, disposition.strip().lower(), _raw_filename(part))

    @staticmethod
    def _is_inline(leaf: _Leaf, index: int, multipart: str) -> bool:
        media = leaf.ctype.startswith(_INLINE_MEDIA)
        if leaf.disposition == "attachment":
            return False
        if leaf.ctype not in _TEXT_TYPES and not media:
            return False
        return index == 0 or (multipart != "related" and (media or not leaf.filename_raw))

    def _add_alternative(self, leaf: _Leaf) -> None:
        if leaf.ctype == "text/plain":
            self.text_body.append(leaf)
        elif leaf.ctype == "text/html":
            self.html_body.append(leaf)
        else:
            self.attachments.append(leaf)

    def _balance(self, text_len: int, html_len: int) -> None:
        # RFC 8621: an alternative that only had one of the two kinds fills the other.
        if text_len == len(self.text_body) and html_len != len(self.html_body):
            self.text_body.extend(self.html_body[html_len:])
        if html_len == len(self.html_body) and text_len != len(self.text_body):
            self.html_body.extend(self.text_body[text_len:])

    def _collect_defects(self) -> None:
        names: list[str] = []
        for part in self.all_parts:
            names.extend(type(d).__name__ for d in getattr(part, "defects", ()) or ())
        self.defects.extend(dict.fromkeys(names))


def _content_type(part: Message) -> str:
    """The part's media type, lower-case, with the stdlib's defaults (RFC 2045 5.2:
    text/plain; message/rfc822 inside multipart/digest)."""
    params = _params(part, "content-type")
    ctype = params[0][0].strip().lower() if params else ""
    if not ctype:
        ctype = part.get_default_type()
    elif ctype.count("/") != 1 or len(ctype) > 127:
        ctype = "text/plain"
    if ctype.startswith("multipart/") and not isinstance(part.get_payload(), list):
        # No usable boundary (NoBoundaryInMultipartDefect): the body is one text part.
        return "text/plain"
    return ctype


def _raw_get(part: Message, name: str) -> str:
    """A header's stored value. For values with 8-bit bytes compat32 returns an
    email.header.Header whose str() has lost the bytes to U+FFFD; read the stored
    string (bytes kept as surrogate escapes) instead."""
    value = part.get(name)
    if value is None or isinstance(value, str):
        return value or ""
    for key, raw in part._headers:
        if str(key).lower() == name:
            return raw if isinstance(raw, str) else str(raw)
    return str(value)


_PARAMS_CACHE = "_inbound_mail_params"


def _params(part: Message, header: str) -> list[tuple[str, Any]]:
    """All parameters of a header, parsed once per part (the stdlib re-parses the
    header on every get_param call, which showed up in profiles)."""
    cache = part.__dict__.setdefault(_PARAMS_CACHE, {})
    if header not in cache:
        cache[header] = _read_params(part, header)
    return cache[header]


def _read_params(part: Message, header: str) -> list[tuple[str, Any]]:
    raw = _raw_get(part, header)
    if not raw:
        return []
    target = part
    if not raw.isascii():
        # 8-bit parameter bytes: let the stdlib see them as latin-1, one character per
        # byte, so they survive; _param_text turns them back into bytes.
        target = Message()
        target[header] = raw.encode("ascii", "surrogateescape").decode("latin-1")
    try:
        return target.get_params(header=header) or []
    except Exception:  # malformed parameters are common in spam
        return []


def _param_value(part: Message, name: str, header: str) -> Any:
    for key, value in _params(part, header)[1:]:
        if key == name:
            return value
    return None


def _param_text(value: Any) -> str:
    """A parameter as text; raw 8-bit bytes come back as surrogate escapes, the
    parser's own convention, so header decoding with charset hints applies later."""
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        return _rfc2231_value(value)
    text = str(value or "")
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return text


def _param(part: Message, name: str, header: str = "content-type") -> str:
    value = _param_value(part, name, header)
    return _param_text(value).strip() if value else ""


def _raw_filename(part: Message) -> str:
    """Filename from Content-Disposition, falling back to the Content-Type name
    parameter (RFC 2183, RFC 2045 legacy). RFC 2231 continuations are joined by the
    stdlib; RFC 2047 words (not allowed there but sent by Outlook and Gmail) later."""
    for name, header in (("filename", "content-disposition"), ("name", "content-type")):
        value = _param_value(part, name, header)
        if value:
            return _param_text(value)
    return ""


def _rfc2231_value(value: tuple[Any, ...]) -> str:
    # The stdlib percent-decodes RFC 2231 values as latin-1; undo that to get the bytes.
    charset, _language, text = [*list(value), "", "", ""][:3]
    try:
        data = str(text).encode("latin-1", "surrogateescape")
    except UnicodeEncodeError:
        return str(text)
    return decode_bytes(data, str(charset or "utf-8")).replace("\ufffd", "")


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # e.g. broken uuencode raises inside the stdlib
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""
