"""Message bodies: the text and HTML leaves the MIME walk chose, decoded (charset, RFC 3676
format=flowed, newlines, uuencoded blocks cut out for attachments), capped, and filled into
ParsedMessage.text_full and html."""

from __future__ import annotations

import html as html_lib
import re

from inbound_mail.parsing.charsets import decode_bytes
from inbound_mail.parsing.html_text import _strip_tags, html_to_text, sanitize_html
from inbound_mail.parsing.limits import MAX_BODY_CHARS, MAX_PARTS
from inbound_mail.parsing.message import ParsedMessage
from inbound_mail.parsing.mime import _TEXT_TYPES, _Leaf, _param, _payload_bytes, _Walk
from inbound_mail.parsing.uuencode import cut_uuencoded
from tickets.sanitize import MAX_HTML_DEPTH, html_nesting_ok


def _fill_bodies(msg: ParsedMessage, walk: _Walk) -> None:
    has_html = any(leaf.ctype == "text/html" for leaf in walk.html_body)
    html_source = _cap(_join_html(walk.html_body), msg.defects, "html") if has_html else ""
    if html_source and not html_nesting_ok(html_source):
        msg.defects.append(f"HTML nested deeper than {MAX_HTML_DEPTH}; HTML dropped, text kept")
        msg.html = ""
    elif html_source:
        msg.html = sanitize_html(html_source, depth_checked=True)
    text_full = "\n".join(
        t
        for t in (_leaf_plain_text(x) for x in walk.text_body if x.ctype in _TEXT_TYPES)
        if t.strip()
    )
    if not text_full.strip() and html_source:
        # RFC 8621 puts the HTML part in the text list for HTML-only mail; an empty
        # text/plain alternative (Zammad mail034) also lands here.
        text_full = html_to_text(msg.html, sanitized=True) if msg.html else _strip_tags(html_source)
    msg.text_full = _cap(text_full.strip("\n"), msg.defects, "text")


def _fill_fallback_body(msg: ParsedMessage, text: str, html: str) -> None:
    """Bodies found inside an attachment (a winmail.dat's) for a mail without its own."""
    html = _cap(html, msg.defects, "html")
    if html and html_nesting_ok(html):
        msg.html = sanitize_html(html, depth_checked=True)
    text = _normalize_newlines(text).strip("\n")
    if not text.strip() and msg.html:
        text = html_to_text(msg.html, sanitized=True)
    msg.text_full = _cap(text, msg.defects, "text")


def _cap(value: str, defects: list[str], what: str) -> str:
    if len(value) <= MAX_BODY_CHARS:
        return value
    defects.append(f"{what} body truncated to {MAX_BODY_CHARS} characters")
    return value[:MAX_BODY_CHARS]


def _leaf_plain_text(leaf: _Leaf) -> str:
    text = _leaf_text(leaf)
    return html_to_text(text) if leaf.ctype == "text/html" else text


def _join_html(leaves: list[_Leaf]) -> str:
    chunks = []
    for leaf in leaves:
        if leaf.ctype == "text/html":
            chunks.append(_leaf_text(leaf))
        elif leaf.ctype == "text/plain":
            chunks.append(f"<pre>{html_lib.escape(_leaf_text(leaf))}</pre>")
    return "\n".join(chunks)


def _leaf_text(leaf: _Leaf) -> str:
    if leaf.text_cache is not None:
        return leaf.text_cache
    data = _payload_bytes(leaf.part)
    charset = _param(leaf.part, "charset")
    if not charset and leaf.ctype == "text/html":
        charset = _meta_charset(data)
    text = _normalize_newlines(decode_bytes(data, charset))
    if leaf.ctype == "text/plain" and _param(leaf.part, "format").lower() == "flowed":
        text = unflow(text, delsp=_param(leaf.part, "delsp").lower() == "yes")
    if leaf.ctype == "text/plain" and "begin " in text:
        text, files = cut_uuencoded(text, max_files=MAX_PARTS)
        leaf.uuencoded = [(f.filename, f.payload) for f in files]
    leaf.text_cache = text
    return text


_META_CHARSET_RE = re.compile(
    rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]{1,40})", re.I
)


def _meta_charset(data: bytes) -> str:
    match = _META_CHARSET_RE.search(data[:4096])
    return match.group(1).decode("ascii") if match else ""


_NEWLINE_RE = re.compile(r"\r\n?")


def _normalize_newlines(text: str) -> str:
    if "\r" in text:
        text = _NEWLINE_RE.sub("\n", text)
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.lstrip("\ufeff")


def unflow(text: str, *, delsp: bool = False) -> str:
    """Join RFC 3676 format=flowed soft line breaks: a line ending in a space continues
    on the next line of the same quote depth; the signature separator "-- " is hard."""
    out: list[str] = []
    buffer = ""
    buffer_depth = -1
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing (4.4)
        if buffer_depth >= 0 and depth != buffer_depth:
            out.append(">" * buffer_depth + (" " if buffer_depth else "") + buffer)
            buffer, buffer_depth = "", -1
        flowed = content.endswith(" ") and content != "-- "
        piece = content[:-1] if flowed and delsp else content
        buffer = buffer + piece if buffer_depth >= 0 else piece
        buffer_depth = depth
        if not flowed:
            out.append(">" * depth + (" " if depth else "") + buffer)
            buffer, buffer_depth = "", -1
    if buffer_depth >= 0:
        out.append(">" * buffer_depth + (" " if buffer_depth else "") + buffer)
    return "\n".join(out)
