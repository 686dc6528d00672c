"""Delivery status notifications: which recipients failed, how, and for which message.

Standard DSNs (RFC 3464, multipart/report; report-type=delivery-status) are read from
their message/delivery-status part. Many MTAs still send plain-text bounces (qmail,
Exim, older Sendmail and Postfix, Gmail, Office 365, Domino, DragonFly DMA, Japanese
carriers, ...); those are recognised by the marks of the mail system (a system sender, a
null envelope sender, Auto-Submitted, ...: `bounce_shapes.machine_made`) together with a
bounce subject or sender and a failed recipient found in the explanation text. Amazon SES
notifications and mailing-list managers' rejections have their own shapes
(`bounce_shapes`). A person's mail that quotes or forwards a bounce is never one.
Only `action == "failed"` is a hard bounce; warnings about delayed delivery come back with
action "delayed"; `Bounce.is_permanent` tells a bad address from a passing failure.
The shapes and their tests: docs/bounce-shapes.md.
"""

from __future__ import annotations

import email.message
import email.utils
import re
from collections.abc import Sequence

from inbound_mail import bounce_shapes
from inbound_mail.bounce_shapes import Bounce, is_system_address, is_system_sender

__all__ = ["Bounce", "find_bounce"]

Message = email.message.Message

_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
_RETURNED_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers")
_BOUNCE_SUBJECT_RE = re.compile(
    r"""undeliver|undelivered|not\ delivered|delivery\ (?:status\ )?notification|
    delivery\ (?:has\ )?fail|delivery\ failure|delivery\ problem|failure\ notice|
    mail\ delivery\ failed|returned\ mail|returning\ message|returned\ to\ sender|
    mail\ system\ error|could\ not\ (?:be\ )?deliver|could\ not\ send|
    non[-\ ]?delivery|nondeliverable|delivery\ report|delayed\ mail|
    message\ status|delivery\ status|error\ sending|bounce|unzustellbar|
    non\ remis|unzustellbare|no\ entregado|não\ entregue|
    配信|未送達|不達|送信エラー|エラーメール|返送|不能送达|退信|недоставлен|не\ доставлено""",
    re.I | re.X,
)
_INTRO_RE = re.compile(
    r"""following\ (?:address(?:\(es\)|es)?|recipients?(?:\(s\))?)\ (?:failed|had)|
    delivery\ to\ the\ following\ recipients?\ (?:failed|has\ been\ delayed)|
    delivery\ has\ failed\ to\ these\ recipients|
    could\ not\ be\ delivered\ to\ (?:the\ following|one\ or\ more)|
    (?:wasn't|was\ not)\ able\ to\ deliver\ your\ message\ to\ the\ following|
    unable\ to\ deliver\ (?:your\ )?message\ to\ the\ following|
    following\ recipients?\ (?:could\ not|cannot)\ be\ reached|
    (?:message|mail)\ (?:could\ not|couldn't)\ be\ delivered\ to|
    your\ message\ (?:to|wasn't\ delivered\ to|was\ not\ delivered\ to|couldn't\ be\ delivered)|
    (?:was|were)\ undeliverable|undeliverable\ to|permanent\ fatal\ errors|
    transient\ non-fatal\ errors|recipients?\ (?:failed|rejected|unknown)|
    there\ was\ an\ error\ (?:sending|delivering)|has\ not\ yet\ been\ delivered|
    delivery\ failed\ for|failed\ recipients?|delivery\ to\ .{1,80}\ failed|
    (?:was|were)\ not\ delivered\ to|did\ not\ reach\ the\ following|
    recipients?\ (?:were|was)\ affected|to\ the\ following\ address|
    had\ (?:permanent\ |transient\ )?(?:fatal\ |delivery\ )?errors|failed\ addresses|
    error\ delivering\ your\ mail\ to|could\ not\ be\ delivered\ to:|
    (?:mail|message)\ to\ the\ following\ recipients?\ could\ not\ be\ delivered|
    unable\ to\ deliver\ your\ message\ to|
    以下の(?:アドレス|宛先|あて先|受信者)|(?:配信|送信|配達)(?:が|することが)?でき(?:ません|なかった)|
    届けることができ|宛先不明""",
    re.I | re.X,
)
_FAILURE_RE = re.compile(
    r"""user\ unknown|unknown\ user|no\ such\ (?:user|mailbox|recipient|address|domain)|
    does\ not\ exist|doesn't\ exist|not\ found|mailbox\ (?:unavailable|full|is\ full|
    not\ found|disabled)|quota|over\ quota|recipient\ address\ rejected|rejected|
    undeliverable|could\ not\ be\ delivered|failed|failure|invalid\ (?:recipient|address|
    mailbox)|unrouteable|relay(?:ing)?\ denied|host\ not\ found|inactive|disabled|exceed|
    not\ a\ valid\ (?:user|recipient|address|mailbox)|no\ mailbox\ here|
    不明|存在しません|見つかりません|
    \b5\d\d\b|\b[45]\.\d{1,3}\.\d{1,3}\b""",
    re.I | re.X,
)
_RETURNED_MARKER_RE = re.compile(
    r"""copy\ of\ the\ (?:original\ )?message|original\ message\ (?:follows|headers)|
    below\ this\ line\ is\ a\ copy|-{3,}\ ?original\ message|
    -{3,}\s*returned\ message|^\s*returned\ message|unsent\ message\ (?:below|follows)|
    message\ headers?\ follows|
    headers\ of\ the\ original|header\ of\ the\ original|original\ message\ header|
    元のメッセージ|元のメール|^content-type:\ ?message/rfc822|
    ^\s*(?:received|return-path|dkim-signature|message-id|x-[a-z-]+)\s*:""",
    re.I | re.X | re.M,
)
_DELAY_RE = re.compile(
    r"""\bdelay(?:ed)?\b|still\ being\ retried|will\ (?:continue|keep)\ (?:trying|to\ try|
    retrying)|will\ be\ retried|will\ retry|not\ yet\ been\ delivered|
    warning:?\ (?:could\ not|message)|warning--|could\ not\ send\ (?:mail|message)\ for\ past""",
    re.I | re.X,
)
# A one-letter top-level label is allowed: test corpora anonymise to "a@b.c".
_ADDRESS_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+"
)
_ANGLE_LINE_RE = re.compile(r"^\s*<([^<>\s]+@[^<>\s]+)>\s*:")
_SENDMAIL_RE = re.compile(r"<([^<>\s]+@[^<>\s]+)>\.\.\.\s")
_RCPT_RE = re.compile(r"rcpt\s+to:\s*<?([^<>\s]+@[^<>\s]+?)>?(?=\s|$)", re.I | re.M)
_EXCLUDE_LINE_RE = re.compile(
    r"mail\s+from|envelope-from|^\s*(?:from|return-path|reply-to|sender|x-\S+)\s*:", re.I
)
_LOCAL_PART_LINE_RE = re.compile(r"^\s+([A-Za-z0-9][A-Za-z0-9._+-]{0,63})\s*$")
_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
_SMTP_CODE_RE = re.compile(r"(?<![\d.])([45])\d\d(?=[ -])")
_TO_LINE_RE = re.compile(r"^to:[ \t]*(.+)$", re.I | re.M)
_MESSAGE_ID_RE = re.compile(r"^\s*message-id\s*:\s*<([^<>\s]+)>", re.I | re.M)
_DSN_FIELD_RE = re.compile(r"^([A-Za-z-]+)\s*:\s*(.*)$")
MAX_RECIPIENTS = 100
MAX_SCAN_CHARS = 200_000


def find_bounce(
    root: Message, parts: Sequence[Message], *, sender: str, subject: str, text: str
) -> Bounce | None:
    """A Bounce when the message is a delivery status notification, else None.
    `parts` are the message's own parts (not those inside an attached message: a bounce a
    person forwards as an attachment is their message, not a bounce)."""
    typed = [(part, part.get_content_type()) for part in parts]
    dsn_part = next((part for part, ctype in typed if ctype in _DSN_TYPES), None)
    subject = subject[:300]
    if dsn_part is None and not _may_be_bounce(root, sender, subject, text):
        return None  # the common case: ordinary mail, decided without reading the body
    system = is_system_sender(root, sender)
    bounce = _structured(root, dsn_part, sender, subject, text) if dsn_part else None
    if bounce is None:
        bounce = bounce_shapes.ses_notification(text)
    if bounce is None:
        bounce = _list_reply(root, typed, sender, subject, text)
    if bounce is None:
        bounce = _heuristic(root, sender, subject, text, system=system)
    if bounce is None and system and _BOUNCE_SUBJECT_RE.search(subject):
        bounce = _from_returned_headers(root, typed, sender, subject, text)
    if bounce is not None:
        bounce.original_message_id = bounce.original_message_id or _original_message_id(typed, text)
        explanation = _explanation(text)
        bounce.transient = bounce.transient or bounce_shapes.transient_failure(
            bounce.status, explanation
        )
    return bounce


def _may_be_bounce(root: Message, sender: str, subject: str, text: str) -> bool:
    """Structure first: only mail with a mark of the mail system, that is not a person
    passing a bounce on, and that comes from a bounce sender or has a bounce subject."""
    if not bounce_shapes.machine_made(root, sender):
        return False
    system = is_system_sender(root, sender)
    if bounce_shapes.forwarded_or_replied(subject) and not system:
        return False
    return (
        system
        or bool(_BOUNCE_SUBJECT_RE.search(subject))
        or bounce_shapes.is_list_manager(sender)
        or "x-failed-recipients" in root
        or text.lstrip()[:1] == "{"  # an SES notification's JSON
    )


# --------------------------------------------------------------------------- RFC 3464


def _structured(
    root: Message, part: Message, sender: str, subject: str, text: str
) -> Bounce | None:
    recipients, status, action = _parse_fields(_dsn_text(part))
    if not recipients:
        recipients = _recipients_from_text(_explanation(text), _excluded(root, sender))
    if not (recipients or action):
        return None
    return Bounce(recipients, status, action or _action(status, subject, text), "")


def _dsn_text(part: Message) -> str:
    # The stdlib parses message/delivery-status into one Message per header block.
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = [
            "\n".join(f"{k}: {v}" for k, v in block.items())
            for block in payload
            if isinstance(block, Message)
        ]
        return "\n\n".join(blocks)
    data = part.get_payload(decode=True) or b""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(payload)


def _parse_fields(text: str) -> tuple[list[str], str, str]:
    recipients: list[str] = []
    statuses: list[tuple[str, str]] = []
    for block in _field_blocks(text):
        recipient = _dsn_address(
            block.get("final-recipient") or block.get("original-recipient", "")
        )
        if not recipient:
            continue
        action = block.get("action", "").split()[0].lower() if block.get("action") else ""
        status = _status_code(block.get("status", ""))
        if recipient not in recipients:
            recipients.append(recipient)
        statuses.append((action or _action_from_status(status), status))
    return recipients[:MAX_RECIPIENTS], *_overall(statuses)


def _field_blocks(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = [{}]
    last = ""
    for line in text.replace("\r\n", "\n").split("\n")[:5000]:
        if not line.strip():
            blocks.append({})
            last = ""
            continue
        if line[0] in " \t" and last in blocks[-1]:
            blocks[-1][last] += " " + line.strip()
            continue
        match = _DSN_FIELD_RE.match(line)
        last = match.group(1).lower() if match else ""
        if match:
            blocks[-1].setdefault(last, match.group(2).strip())
    return [b for b in blocks if b]


def _dsn_address(value: str) -> str:
    # "rfc822; user@example.com" (RFC 3464 2.3.2), sometimes with <>, sometimes without
    # the address-type.
    value = value.split(";", 1)[1] if ";" in value else value
    value = value.strip().strip("<>").strip()
    return value.lower() if "@" in value else ""


def _status_code(value: str) -> str:
    match = _STATUS_RE.search(value)
    return ".".join(match.groups()) if match else ""


def _overall(statuses: list[tuple[str, str]]) -> tuple[str, str]:
    for action, status in statuses:
        if action == "failed":
            return status, action
    return (statuses[0][1], statuses[0][0]) if statuses else ("", "")


def _action_from_status(status: str) -> str:
    if status.startswith("5"):
        return "failed"
    if status.startswith("4"):
        return "delayed"
    return ""


# --------------------------------------------------------------------------- plain text


def _heuristic(
    root: Message, sender: str, subject: str, text: str, *, system: bool
) -> Bounce | None:
    """A plain-text bounce. From an address that is not the mail system's (a relay's
    notifier, already known to carry a machine mark) it needs the machine forms of
    recipient lines and a status code or a null envelope sender."""
    explanation = _explanation(text)
    excluded = _excluded(root, sender)
    failed_header = _clean(_ADDRESS_RE.findall(str(root.get("x-failed-recipients", ""))), set())
    if failed_header:  # Exim names the failed recipients in a header of its own
        recipients = failed_header
    elif system:
        recipients = _recipients_from_text(explanation, excluded) or _local_parts(
            explanation, sender
        )
    elif _looks_machine_made(root, subject, explanation):
        recipients = _clean(_strong_recipients(explanation.split("\n")), excluded)
    else:
        return None
    if not recipients:
        return None
    fields_recipients, status, action = _parse_fields(explanation)
    status = status or _status_from_text(explanation)
    action = action or _action(status, subject, explanation)
    return Bounce(fields_recipients or recipients, status, action, "")


def _local_parts(explanation: str, sender: str) -> list[str]:
    """AOL's "Your mail to the following recipients could not be delivered ...:" lists
    bare local parts: they are mailboxes of the domain the notice comes from."""
    domain = sender.rsplit("@", 1)[1].lower() if "@" in sender else ""
    if not domain:
        return []
    lines = explanation.split("\n")
    for index, line in enumerate(lines):
        if _INTRO_RE.search(line):
            found = [
                m.group(1) for m in map(_LOCAL_PART_LINE_RE.match, lines[index + 1 :][:12]) if m
            ]
            if found:
                return [f"{local.lower()}@{domain}" for local in found][:MAX_RECIPIENTS]
    return []


def _list_reply(
    root: Message, typed: list[tuple[Message, str]], sender: str, subject: str, text: str
) -> Bounce | None:
    explanation = _explanation(text)
    candidates = [a.lower().strip(".") for a in _ADDRESS_RE.findall(explanation[:20_000])]
    for inner in (m for m in (_inner(p, t) for p, t in typed) if m is not None):
        values = [str(inner.get(name, "")) for name in ("to", "cc")]
        candidates.extend(a.lower() for _, a in email.utils.getaddresses(values) if a)
    for name in ("x-beenthere", "list-post"):
        candidates.extend(a.lower() for a in _ADDRESS_RE.findall(str(root.get(name, ""))))
    excluded = _excluded(root, sender)
    usable = [a for a in candidates if a not in excluded]
    return bounce_shapes.list_reply(sender, subject, explanation, usable)


def _from_returned_headers(
    root: Message, typed: list[tuple[Message, str]], sender: str, subject: str, text: str
) -> Bounce | None:
    """Last resort for a system sender's bounce that names no recipient (Sendmail's
    "Cannot send message for 4 days" with only a transcript): the To: of the returned
    message. Imprecise for mail to several recipients, so it is used only here."""
    inner_messages = [m for m in (_inner(p, t) for p, t in typed) if m is not None]
    to_values = [str(m.get("to", "")) for m in inner_messages]
    returned = text[len(_explanation(text)) :]
    to_values.extend(m.group(1) for m in _TO_LINE_RE.finditer(returned[:MAX_SCAN_CHARS]))
    recipients = _clean(
        [a for _, a in email.utils.getaddresses(to_values)], _excluded(root, sender)
    )
    if not recipients:
        return None
    status = _status_from_text(_explanation(text))
    return Bounce(recipients, status, _action(status, subject, text), "")


def _inner(part: Message, ctype: str) -> Message | None:
    if ctype not in ("message/rfc822", "message/global"):
        return None
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return None


def _explanation(text: str) -> str:
    """The human-readable part of a bounce, before the returned copy of the message."""
    text = text[:MAX_SCAN_CHARS]
    match = _RETURNED_MARKER_RE.search(text)
    return text[: match.start()] if match and match.start() > 0 else text


def _looks_machine_made(root: Message, subject: str, explanation: str) -> bool:
    # Only reached for mail that carries a machine mark (_may_be_bounce): a notifier
    # address of a relay or carrier (au's no-reply@) with a bounce subject counts.
    return (
        bounce_shapes.null_return_path(root)
        or "auto-submitted" in root
        or bool(_STATUS_RE.search(explanation))
        or bool(_BOUNCE_SUBJECT_RE.search(subject))
    )


def _recipients_from_text(text: str, excluded: set[str]) -> list[str]:
    lines = text.split("\n")
    found = _strong_recipients(lines)
    if not found:
        found = [a for line in lines if _FAILURE_RE.search(line) for a in _addresses(line)]
    return _clean(found, excluded)


def _clean(found: list[str], excluded: set[str]) -> list[str]:
    result: list[str] = []
    for addr in found:
        addr = addr.lower().strip(".")
        if addr not in excluded and not is_system_address(addr) and addr not in result:
            result.append(addr)
    return result[:MAX_RECIPIENTS]


def _strong_recipients(lines: list[str]) -> list[str]:
    found: list[str] = []
    for index, line in enumerate(lines):
        for pattern in (_ANGLE_LINE_RE, _SENDMAIL_RE, _RCPT_RE):
            found.extend(pattern.findall(line))
        if _INTRO_RE.search(line):
            found.extend(_addresses(line))
            found.extend(_addresses_after(lines, index + 1))
    return found


def _addresses_after(lines: list[str], start: int) -> list[str]:
    """Addresses listed under an intro line, up to the first blank line after them."""
    found: list[str] = []
    for line in lines[start : start + 12]:
        if not line.strip():
            if found:
                break
            continue
        found.extend(_addresses(line))
    return found


def _addresses(line: str) -> list[str]:
    if _EXCLUDE_LINE_RE.search(line):
        return []
    return _ADDRESS_RE.findall(line)


def _excluded(root: Message, sender: str) -> set[str]:
    # The bounce goes back to the original sender; their address shows up in the
    # explanation ("MAIL FROM:<...>") and is never a failed recipient.
    values = [str(root.get(name, "")) for name in ("to", "from", "return-path", "delivered-to")]
    excluded = {a.lower() for _, a in email.utils.getaddresses(values) if a}
    excluded.add(sender.lower())
    return excluded


def _status_from_text(text: str) -> str:
    match = _STATUS_RE.search(text)
    if match:
        return ".".join(match.groups())
    for line in text.split("\n"):
        code = _SMTP_CODE_RE.search(line)
        if code and _FAILURE_RE.search(line):
            return f"{code.group(1)}.0.0"
    return ""


def _action(status: str, subject: str, text: str) -> str:
    from_status = _action_from_status(status)
    if from_status:
        return from_status
    return "delayed" if _DELAY_RE.search(subject) or _DELAY_RE.search(text[:5000]) else "failed"


# --------------------------------------------------------------------------- original id


def _original_message_id(typed: list[tuple[Message, str]], text: str) -> str:
    """The Message-ID of the returned message: from message/rfc822 or text/rfc822-headers,
    from a text/plain part that is a copy of it (Gmail, some gateways attach the original
    as a text file), else from the text after the explanation."""
    for part, ctype in typed:
        if ctype not in _RETURNED_TYPES and not _is_attached_copy(part, ctype):
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            found = _id_from_header(str(payload[0].get("message-id", "")))
        else:
            found = _id_from_text(_part_text(part))
        if found:
            return found
    return _id_from_text(text[len(_explanation(text)) :])


def _is_attached_copy(part: Message, ctype: str) -> bool:
    if ctype != "text/plain":
        return False
    disposition = str(part.get("content-disposition", "")).lower()
    return disposition.startswith("attachment") or bool(part.get_param("name"))


def _part_text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data[:MAX_SCAN_CHARS].decode("utf-8", "replace")
    return str(part.get_payload())[:MAX_SCAN_CHARS]


def _id_from_header(value: str) -> str:
    match = re.search(r"<([^<>\s]+)>", value)
    if match:
        return match.group(1)
    return value.strip() if "@" in value and " " not in value.strip() else ""


def _id_from_text(text: str) -> str:
    match = _MESSAGE_ID_RE.search(text[:MAX_SCAN_CHARS])
    return match.group(1) if match else ""
