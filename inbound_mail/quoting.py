"""Separate the new text of a reply from quoted history and the signature.

Quoted history starts at the first of:
- an attribution line, "On <date>, <name> wrote:" and its translations; Gmail wraps it
  over two or three lines, Apple Mail puts it inside the quote ("> On ... wrote:");
- Outlook's "-----Original Message-----" (Outlook Express, AOL, Yahoo "----- Original
  Message -----") or a rule of underscores followed by a header block;
- a block of quoted headers, "From: ... Sent: ... To: ..." (Outlook, localised);
- a trailing run of ">"-quoted lines.
A forward marker ("Begin forwarded message:") stops the search: a forward's content is
not history. Bottom-posted replies (the quote first, the answer below it, as in the
Discourse inline_reply fixture) keep the answer.
"""

from __future__ import annotations

import re

from inbound_mail.forwards import FORWARD_MARKER_RE, HEADER_LINE_RE, header_block

_VERBS = (
    r"wrote|writes|schrieb|schreibt|a\ écrit|a\ ecrit|escribió|escribio|escreveu|"
    r"ha\ scritto|scrisse|schreef|skrev|skrev\ følgende|kirjoitti|napisał|napisała|"
    r"napisal|napsal|napsala|írta|пишет|написал|написала|написав|έγραψε|yazdı|đã\ viết|"  # noqa: RUF001 - Turkish dotless i
    r"menulis|kirjutas|rašė|rakstīja|je\ napisal|写道|寫道|wrote\ the\ following"
)
_ATTRIBUTION_END_RE = re.compile(rf"(?:{_VERBS})\s*[:\uff1a]\s*$", re.I | re.X)
_ATTRIBUTION_START_RE = re.compile(
    r"^\s*(?:on|am|le|el|il|op|em|den|på|w\ dniu|dne|dňa|στις|pada|vào|в|在|"
    r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{4}年)\b",
    re.I | re.X,
)
# Japanese and Chinese Gmail: "2012年4月3日 16:19 bob <bob@example.com>:"
_ADDRESS_END_RE = re.compile(r"<[^<>\s@]+@[^<>\s]+>\s*[:\uff1a]\s*$")
_DIGIT_RE = re.compile(r"\d")
_ORIGINAL_MESSAGE_RE = re.compile(
    r"""^\s*[-_=*]{2,}\s*(?:
        original\ message|ursprüngliche\ nachricht|originalnachricht|
        message\ d'origine|mensaje\ original|messaggio\ originale|mensagem\ original|
        oorspronkelijk\ bericht|originalmeddelande|opprinnelig\ melding|
        oprindelig\ meddelelse|alkuperäinen\ viesti|wiadomość\ oryginalna|
        původní\ zpráva|исходное\ сообщение|原始邮件|原始郵件|元のメッセージ|원본\ 메시지|
        reply\ message|original\ e-?mail
    )\s*[-_=*]{2,}\s*$""",
    re.I | re.X,
)
_RULE_RE = re.compile(r"^\s*_{20,}\s*$")
_QUOTED_RE = re.compile(r"^\s*>")
_SIGNATURE_DELIMITER_RE = re.compile(r"^--\s?$")
_MOBILE_FOOTER_RE = re.compile(
    r"""^\s*(?:
        sent\ (?:from|with|via)\ .{1,60}|get\ outlook\ for\ .{1,30}|
        (?:von|gesendet\ von)\ meinem\ .{1,40}|von\ meinem\ .{1,40}\ gesendet|
        envoyé\ (?:de|depuis)\ (?:mon|ma)\ .{1,40}|enviado\ (?:desde|de|do)\ (?:mi|meu)\ .{1,40}|
        inviato\ da\ .{1,40}|verzonden\ (?:vanaf|met)\ .{1,40}|skickat\ från\ .{1,40}|
        sendt\ fra\ .{1,40}|wysłane\ z\ .{1,40}|отправлено\ \u0441\ .{1,40}|
        从我的.{1,20}发送|從我的.{1,20}傳送|.{1,20}から送信
    )\s*$""",
    re.I | re.X,
)
MAX_SIGNATURE_LINES = 15
MAX_SCAN_CHARS = 500_000


def split_reply(text: str) -> str:
    """The new text of a reply: quoted history and signature removed."""
    return strip_signature(strip_quotes(text))


def strip_quotes(text: str) -> str:
    """Remove quoted history, keep the signature (talon's *_reply_text semantics)."""
    if not text:
        return ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found = _history_start(lines)
    if found is None:
        kept = _drop_trailing_quote(lines)
    else:
        start, body_start = found
        bottom = _bottom_posted(lines, start, body_start)
        kept = _drop_trailing_quote(lines[:start]) if bottom is None else bottom
    return "\n".join(kept).strip("\n").rstrip()


def _history_start(lines: list[str]) -> tuple[int, int] | None:
    """(first line of the history, first line after its attribution)."""
    scanned = 0
    for index, line in enumerate(lines):
        scanned += len(line) + 1
        if scanned > MAX_SCAN_CHARS:
            return None
        if not _may_be_marker(lines, index):
            continue  # most lines: no colon nearby and no leading rule, skip the regexes
        if FORWARD_MARKER_RE.match(line):
            return None
        if _QUOTED_RE.match(line):
            continue
        end = _attribution_end(lines, index)
        if end is not None:
            return index, end + 1
        if _is_separator(lines, index) or header_block(lines, index):
            return index, index
    return None


def _may_be_marker(lines: list[str], index: int) -> bool:
    stripped = lines[index].lstrip()
    if not stripped:
        return False
    if stripped[0] in "-_=*<":
        return True
    window = lines[index : index + 3]
    return any(":" in line or "\uff1a" in line for line in window)


def _attribution_end(lines: list[str], start: int) -> int | None:
    if not _might_end_attribution(lines, start):
        return None
    joined = ""
    for end in range(start, min(start + 3, len(lines))):
        line = lines[end].strip()
        if not line or (end > start and _QUOTED_RE.match(lines[end])):
            return None
        joined = f"{joined} {line}" if joined else line
        if len(joined) > 400:
            return None
        if _is_attribution(joined, lines, start, end):
            return end
    return None


def _might_end_attribution(lines: list[str], start: int) -> bool:
    # Cheap pre-check that keeps the scan linear: some line of the window ends in ":".
    return any(line.rstrip().endswith((":", "\uff1a")) for line in lines[start : start + 3])


def _is_attribution(joined: str, lines: list[str], start: int, end: int) -> bool:
    # Only the tail can hold the verb and colon; searching the whole window with these
    # alternations was the slowest step on long unwrapped paragraphs.
    tail = joined[-120:]
    if _ATTRIBUTION_END_RE.search(tail):
        return bool(_ATTRIBUTION_START_RE.match(joined)) or _quote_follows(lines, end)
    return (
        bool(_ADDRESS_END_RE.search(tail))
        and bool(_DIGIT_RE.search(joined))
        and _quote_follows(lines, end)
    )


def _quote_follows(lines: list[str], end: int) -> bool:
    for line in lines[end + 1 : end + 4]:
        if line.strip():
            return bool(_QUOTED_RE.match(line))
    return False


def _is_separator(lines: list[str], index: int) -> bool:
    line = lines[index]
    if _ORIGINAL_MESSAGE_RE.match(line):
        return True
    if _RULE_RE.match(line):
        # Outlook's rule of underscores, then the original's header block.
        nxt = next(
            (i for i in range(index + 1, min(index + 3, len(lines))) if lines[i].strip()), None
        )
        return nxt is not None and bool(HEADER_LINE_RE.match(lines[nxt]))
    return False


def _bottom_posted(lines: list[str], start: int, body_start: int) -> list[str] | None:
    """A reply written below a single quote block: nothing above the attribution,
    then ">" lines, then unquoted text. Returns that text, or None."""
    if any(line.strip() for line in lines[:start]) or body_start == start:
        return None
    rest = lines[body_start:]
    first_text = next(
        (i for i, x in enumerate(rest) if x.strip() and not _QUOTED_RE.match(x)), None
    )
    if first_text is None or first_text == 0:
        return None
    answer = rest[first_text:]
    if any(_QUOTED_RE.match(x) and x.strip(" >") for x in answer):
        # Interleaved answers need their quotes to make sense: keep them.
        return _drop_trailing_quote(rest)
    return answer


def _drop_trailing_quote(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and (not lines[end - 1].strip() or _QUOTED_RE.match(lines[end - 1])):
        end -= 1
    return lines[:end]


def strip_signature(text: str) -> str:
    """Remove a trailing signature: the RFC 3676 4.3 "-- " delimiter (also "--", as
    many clients trim the space) with at most MAX_SIGNATURE_LINES after it, and mobile
    footers such as "Sent from my iPhone"."""
    if not text:
        return ""
    lines = text.rstrip().split("\n")
    for index in range(len(lines) - 1, 0, -1):
        if len(lines) - index > MAX_SIGNATURE_LINES + 1:
            break
        if _SIGNATURE_DELIMITER_RE.match(lines[index]):
            lines = lines[:index]
            break
    while len(lines) > 1 and _MOBILE_FOOTER_RE.match(lines[-1]):
        lines = _strip_trailing_blank(lines[:-1])
    return "\n".join(lines).rstrip()


def _strip_trailing_blank(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines
