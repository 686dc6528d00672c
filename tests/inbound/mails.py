"""Build raw RFC 5322 messages for the inbound tests, shaped like real clients' mail."""

from __future__ import annotations

import itertools
from email.message import EmailMessage
from email.utils import format_datetime

from django.utils import timezone

_numbers = itertools.count(1)


def new_message_id(domain: str = "customer.test") -> str:
    return f"m{next(_numbers)}.{timezone.now().timestamp():.6f}@{domain}"


def mail(
    *,
    sender: str = "Carol <carol@customer.test>",
    to: str = "support@acme.test",
    subject: str = "Printer on fire",
    body: str = "Help, the printer is on fire.",
    html: str | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    cc: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] = (),
) -> bytes:
    """A message as bytes; message_id="" leaves the Message-ID header out."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(timezone.now())
    if message_id != "":
        msg["Message-ID"] = f"<{message_id or new_message_id()}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references)
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, content_type, payload in attachments:
        maintype, subtype = content_type.split("/", 1)
        msg.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(msg)


def outlook_reply(
    *, sender: str, to: str, subject: str, body: str, original_id: str, original_from: str
) -> bytes:
    """Outlook (Windows) reply: "RE:" prefix, the quote after an underscore line and a
    From:/Sent:/To:/Subject: block, In-Reply-To and References to the original, Thread-Index."""
    quoted = (
        f"{body}\r\n\r\n________________________________\r\n"
        f"From: {original_from}\r\nSent: Monday, March 3, 2025 10:00 AM\r\n"
        f"To: {to}\r\nSubject: {subject}\r\n\r\nThe original text.\r\n"
    )
    return mail(
        sender=sender,
        to=to,
        subject=f"RE: {subject}",
        body=quoted,
        in_reply_to=original_id,
        references=[original_id],
        headers={"Thread-Index": "AdmXq1c2bm9ybWFs", "X-Mailer": "Microsoft Outlook 16.0"},
    )


def gmail_reply(
    *, sender: str, to: str, subject: str, body: str, original_id: str, references: list[str]
) -> bytes:
    """Gmail: "Re:" prefix, multipart/alternative with a gmail_quote block, full References."""
    text = (
        f"{body}\r\n\r\nOn Mon, 3 Mar 2025 at 10:00, Support <{to}> wrote:\r\n> Earlier text.\r\n"
    )
    html = (
        f'<div dir="ltr">{body}</div><br><div class="gmail_quote"><div dir="ltr" '
        f'class="gmail_attr">On Mon, 3 Mar 2025 at 10:00, Support &lt;{to}&gt; wrote:<br></div>'
        '<blockquote class="gmail_quote">Earlier text.</blockquote></div>'
    )
    return mail(
        sender=sender,
        to=to,
        subject=f"Re: {subject}",
        body=text,
        html=html,
        in_reply_to=original_id,
        references=references,
    )


def apple_mail_reply(*, sender: str, to: str, subject: str, body: str, original_id: str) -> bytes:
    """Apple Mail: "Re:" prefix, quote as "> " lines after "On ... wrote:", References only
    to the message answered, and In-Reply-To."""
    text = f"{body}\n\n> On 3 Mar 2025, at 10:00, Support <{to}> wrote:\n> \n> Earlier text.\n"
    return mail(
        sender=sender,
        to=to,
        subject=f"Re: {subject}",
        body=text,
        in_reply_to=original_id,
        references=[original_id],
        headers={"X-Mailer": "Apple Mail (2.3774.300.61.1.2)"},
    )


def authenticated(raw: bytes, *, domain: str, host: str = "mx.trusted.test") -> bytes:
    """The message as a receiving host that checked it delivers it: DMARC pass for `domain`
    in an Authentication-Results header (RFC 8601) on top. Counts only for a tenant that
    trusts `host` (inbound_mail.staff_proof)."""
    header = f"Authentication-Results: {host}; dmarc=pass header.from={domain}\n"
    return header.encode() + raw
