"""Forwarded mail: is this message a forward, and who wrote the original?

Inline forwards carry a marker line and a block of the original's headers:
Gmail "---------- Forwarded message ---------", Apple Mail "Begin forwarded message:",
Thunderbird "-------- Forwarded Message --------", Outlook "From: ... Sent: ..." after a
rule of underscores with an "FW:" subject; localised in each client. Some clients (and
people) forward with no marker at all, only a "Fwd:" subject and the header block
(Discourse forwarded_email_3, French "De:/Objet:"). Forward-as-attachment puts the
original in a message/rfc822 part.
"""

from __future__ import annotations

import re

from inbound_mail.subjects import has_forward_prefix

FORWARD_MARKER_RE = re.compile(
    r"""^[-_=*<\s]*(?:
        forwarded\ message|begin\ forwarded\ message|forwarded\ e-?mail|
        weitergeleitete\ nachricht|anfang\ der\ weitergeleiteten\ nachricht|
        message\ transf[ée]r[ée]|d[ée]but\ du\ message\ r[ée]exp[ée]di[ée]|
        mensaje\ reenviado|comienzo\ del\ mensaje\ reenviado|
        messaggio\ inoltrato|inizio\ messaggio\ inoltrato|
        doorgestuurd\ bericht|begin\ doorgestuurd\ bericht|
        vidarebefordrat\ meddelande|videresendt\ (?:meddelelse|melding|besked)|
        välitetty\ viesti|przekazana\ wiadomo[śs][ćc]|přeposlaná\ zpráva|
        mensagem\ encaminhada|in[íi]cio\ da\ mensagem\ reencaminhada|
        пересылаемое\ сообщение|начало\ переадресованного\ сообщения|
        转发的邮件|轉寄的郵件|転送されたメッセージ|전달된\ 메시지
    )[-_=*>:\s]*$""",
    re.I | re.X,
)

FROM_KEYS = (
    r"from|von|de|da|van|från|fra|od|от|lähettäjä|feladó|kimden|gönderen|"
    r"发件人|寄件者|寄件人|差出人|보낸\ 사람|보낸사람"
)
OTHER_KEYS = (
    r"to|cc|bcc|sent|date|subject|reply-to|an|gesendet|datum|betreff|kopie|envoyé|"
    r"à|a|objet|enviado|enviada|para|asunto|fecha|inviato|data|oggetto|verzonden|aan|"
    r"onderwerp|skickat|till|ämne|sendt|til|emne|dato|wysłano|do|temat|odesláno|komu|"
    r"předmět|отправлено|дата|кому|тема|копия|lähetetty|vastaanottaja|aihe|"
    r"发送时间|日期|收件人|抄送|主题|寄件日期|收件者|主旨|送信日時|宛先|件名|"
    r"보낸\ 날짜|받는\ 사람|제목|gönderildi|tarih|kime|konu"
)
# "*From:*" comes from clients that mark header names bold in plain text.
HEADER_LINE_RE = re.compile(
    rf"^[ \t]*\*?(?P<key>{FROM_KEYS}|{OTHER_KEYS})\*?[ \t]*[:\uff1a]\*?[ \t]*(?P<value>.*)$",
    re.I | re.X,
)
_FROM_KEY_RE = re.compile(rf"^(?:{FROM_KEYS})$", re.I | re.X)
MAX_SCAN_LINES = 400
_QUOTE_MARKS_RE = re.compile(r"^[ \t]*(?:>[ \t]?)+")


def is_from_key(key: str) -> bool:
    return bool(_FROM_KEY_RE.match(key.strip()))


def header_block(lines: list[str], start: int) -> tuple[int, str] | None:
    """If a block of quoted mail headers starts at `start`, return (end index, raw
    From value). A block has a From-like line and at least one other header line;
    wrapped values (long To: lists) may take up to two continuation lines."""
    if start >= len(lines) or not HEADER_LINE_RE.match(lines[start]):
        return None
    from_value, count, gap, end = None, 0, 0, start
    for index in range(start, min(len(lines), start + 12)):
        match = HEADER_LINE_RE.match(lines[index])
        if match:
            count, gap, end = count + 1, 0, index
            if from_value is None and is_from_key(match.group("key")):
                from_value = match.group("value").strip()
        elif lines[index].strip() and gap < 2 and count:
            gap += 1
        else:
            break
    if from_value is None or count < 2:
        return None
    return end, from_value


def find_forwarded_sender(
    *, subject: str, text: str, attached_from: list[str] | tuple[str, ...] = ()
) -> str | None:
    """The original sender ("Name <addr>", raw) when the message is a forward, else
    None. Inline forms need a marker line, or a forward prefix on the subject; an
    attached message counts when it is the only one and the subject says forward."""
    forward_subject = has_forward_prefix(subject)
    lines = text.split("\n", MAX_SCAN_LINES)[:MAX_SCAN_LINES]
    found = _inline_sender(lines, marker_required=not forward_subject)
    if found:
        return found
    attached = [a for a in attached_from if a and "@" in a]
    if forward_subject and len(attached) == 1:
        return attached[0]
    return None


def _inline_sender(lines: list[str], *, marker_required: bool) -> str | None:
    for index, line in enumerate(lines):
        if line.lstrip().startswith(">"):
            # Quoted history starts: a forward inside a quoted earlier message does not
            # make this reply a forward.
            return None
        if FORWARD_MARKER_RE.match(line):
            return _sender_after_marker(lines, index + 1)
        if not marker_required and HEADER_LINE_RE.match(line):
            block = header_block(lines, index)
            if block and "@" in block[1]:
                return block[1]
    return None


def _sender_after_marker(lines: list[str], start: int) -> str | None:
    # Apple Mail quotes the forwarded message ("> From: ..."); read through the marks.
    window = [_QUOTE_MARKS_RE.sub("", line) for line in lines[start : start + 18]]
    for index in range(min(len(window), 6)):
        block = header_block(window, index)
        if block:
            return block[1] if "@" in block[1] else None
    return None
