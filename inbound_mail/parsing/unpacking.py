"""Files inside files. What a forwarded message (message/rfc822), an Outlook winmail.dat
(TNEF) and a uuencoded block of a text body hold become attachments of their own, listed
after their container, which is always kept as it arrived; a forwarded message's text is
shown collapsed (FORWARDED_MARK). One budget per message (parts, bytes, nesting depth)
bounds the work however the containers nest, and a container that cannot be opened is
kept whole with a note in `defects`."""

from __future__ import annotations

import html as html_lib
import logging
from dataclasses import dataclass, field
from email.message import Message

from inbound_mail.parsing.attachments import _file_attachment, _leaf_attachment
from inbound_mail.parsing.bodies import _fill_bodies, _fill_fallback_body
from inbound_mail.parsing.headers import collapse_whitespace, decode_header_value
from inbound_mail.parsing.limits import (
    MAX_BODY_CHARS,
    MAX_PARTS,
    MAX_UNPACK_DEPTH,
    MAX_UNPACKED_BYTES,
)
from inbound_mail.parsing.message import ParsedAttachment, ParsedMessage
from inbound_mail.parsing.mime import _Leaf, _raw_get, _Walk
from inbound_mail.parsing.tnef import TnefContents, is_tnef, unpack_tnef
from tickets.sanitize import text_to_html

logger = logging.getLogger(__name__)

# The opening of each collapsed forwarded message in ParsedMessage.html. The sanitiser keeps
# `title` on any element, so the mark survives tickets.sanitize.clean_html.
FORWARDED_MARK = '<details title="Forwarded message">'


def split_forwarded_html(html: str) -> tuple[str, str]:
    """(the mail's own HTML, the collapsed forwarded messages appended to it)."""
    at = html.find(FORWARDED_MARK)
    return (html, "") if at < 0 else (html[:at], html[at:])


@dataclass
class _Budget:
    parts: int
    size: int = MAX_UNPACKED_BYTES
    html: int = MAX_BODY_CHARS

    def take(self, size: int) -> bool:
        if self.parts <= 0 or size > self.size:
            return False
        self.parts, self.size = self.parts - 1, self.size - size
        return True


@dataclass
class Unpacked:
    attachments: list[ParsedAttachment] = field(default_factory=list)
    forwarded_html: list[str] = field(default_factory=list)
    tnef: list[TnefContents] = field(default_factory=list)


def _unpack(msg: ParsedMessage, walk: _Walk, hints: tuple[str, ...]) -> Unpacked:
    """The mail's attachments, each followed by the files inside it (run after _fill_bodies,
    which cut the uuencoded blocks from the text leaves). A TNEF body fills in for a mail
    without one of its own."""
    unpacker = _Unpacker(msg, hints, _Budget(parts=max(0, MAX_PARTS - len(walk.all_parts))))
    unpacker.run(walk, 0)
    result = unpacker.result
    if not msg.text_full.strip() and not msg.html:
        body = next((t for t in result.tnef if t.text.strip() or t.html.strip()), None)
        if body is not None:
            _fill_fallback_body(msg, body.text, body.html)
    return result


def _append_forwarded_html(msg: ParsedMessage, blocks: list[str]) -> None:
    """The collapsed forwarded messages after the mail's own HTML (its text as HTML when
    it has none); run after classification, which reads the mail's own text only."""
    if blocks:
        msg.html = (msg.html or text_to_html(msg.text_full)) + "".join(blocks)


_OVER_BUDGET = (
    f"files inside attachments beyond {MAX_UNPACKED_BYTES} bytes or {MAX_PARTS} parts "
    "not listed; they stay inside their container"
)


class _Unpacker:
    def __init__(self, msg: ParsedMessage, hints: tuple[str, ...], budget: _Budget) -> None:
        self.msg, self.hints, self.budget = msg, hints, budget
        self.used: set[str] = set()
        self.result = Unpacked()
        self._noted: set[str] = set()

    def run(self, walk: _Walk, depth: int) -> None:
        for leaf in walk.attachments:
            attachment = _leaf_attachment(leaf, self.hints, self.used)
            if depth and not self.budget.take(attachment.size):
                self._note(_OVER_BUDGET)
                return
            self.result.attachments.append(attachment)
            self._open(leaf, attachment, depth)
        self._uuencoded(walk)

    def _open(self, leaf: _Leaf, attachment: ParsedAttachment, depth: int) -> None:
        try:
            if is_tnef(leaf.ctype, attachment.filename, attachment.payload):
                self._tnef(attachment, depth)
            elif leaf.is_message:
                self._forwarded(leaf, depth)
        except Exception as exc:  # a container we fail to open is still kept, whole
            logger.warning("inbound mail: opening %s failed: %r", attachment.filename, exc)
            self._note(f"{attachment.filename}: not opened ({type(exc).__name__}); kept as it is")

    def _tnef(self, container: ParsedAttachment, depth: int) -> None:
        contents = unpack_tnef(container.payload, max_files=max(1, self.budget.parts))
        if contents.problem:
            self.msg.defects.append(f"{container.filename}: {contents.problem}; kept as it is")
        self._add_files((f.filename, f.payload, f.content_type) for f in contents.files)
        if depth == 0:
            self.result.tnef.append(contents)

    def _forwarded(self, leaf: _Leaf, depth: int) -> None:
        inner = leaf.inner_message()
        if inner is None:
            return
        if depth + 1 > MAX_UNPACK_DEPTH:
            self._note(
                f"messages forwarded more than {MAX_UNPACK_DEPTH} deep: "
                "their files stay inside the attached message"
            )
            return
        walk = _Walk(max_parts=max(1, self.budget.parts))
        walk.run(inner)
        self.budget.parts -= len(walk.all_parts)
        for defect in walk.defects:
            self._note(f"forwarded message: {defect}")
        body = ParsedMessage()
        _fill_bodies(body, walk)
        self._note_all(body.defects)
        self._collapsed(inner, body)
        self.run(walk, depth + 1)

    def _collapsed(self, inner: Message, body: ParsedMessage) -> None:
        shown = body.html or text_to_html(body.text_full)
        block = f"{FORWARDED_MARK}<summary>{html_lib.escape(self._summary(inner))}</summary>"
        block += f"{shown}</details>"
        if len(block) > self.budget.html:
            self._note("forwarded messages' text longer than the body limit: not all shown")
            return
        self.budget.html -= len(block)
        self.result.forwarded_html.append(block)

    def _summary(self, inner: Message) -> str:
        subject = self._header(inner, "subject") or "(no subject)"
        sender = self._header(inner, "from")
        return f"Forwarded message: {subject}" + (f" from {sender}" if sender else "")

    def _header(self, inner: Message, name: str) -> str:
        value = decode_header_value(_raw_get(inner, name), self.hints)
        return collapse_whitespace(value)[:200]

    def _uuencoded(self, walk: _Walk) -> None:
        leaves = {id(x): x for x in walk.text_body + walk.html_body if x.uuencoded}
        for leaf in sorted(leaves.values(), key=lambda x: x.index):
            self._add_files((name, data, "") for name, data in leaf.uuencoded)

    def _add_files(self, files) -> None:
        for name, payload, ctype in files:
            if not self.budget.take(len(payload)):
                self._note(_OVER_BUDGET)
                return
            self.result.attachments.append(_file_attachment(name, payload, ctype, self.used))

    def _note(self, defect: str) -> None:
        if defect not in self._noted:
            self._noted.add(defect)
            self.msg.defects.append(defect)

    def _note_all(self, defects: list[str]) -> None:
        for defect in defects:
            self._note(f"forwarded message: {defect}")
