"""From an outbox row to bytes on the wire: the sender, the MIME message, the connection."""

import html
from dataclasses import dataclass
from email.mime.image import MIMEImage
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from outbound_mail import dkim_keys, transport
from outbound_mail.models import OutgoingMessage, SmtpConnection
from tickets.models import Attachment
from tickets.rich_text import INLINE_IMAGE_TYPES

PLATFORM_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@dataclass(frozen=True)
class Sender:
    """Who a tenant's mail comes from and the connection that carries it."""

    from_header: str
    smtp: transport.SmtpConfig | None  # None: Django's EMAIL_BACKEND (an ESP, files, memory)
    # The tenant's DKIM key, on mail we hand to an SMTP server ourselves. An ESP signs with
    # its own keys (the tenant sets that up with the ESP), so mail through the backend is not.
    signer: dkim_keys.Signer | None = None

    def send(self, message: EmailMultiAlternatives) -> transport.Outcome:
        if self.smtp is not None:
            sign = self.signer.sign if self.signer is not None else None
            return transport.send_smtp(self.smtp, message, sign=sign)
        return transport.send_backend(message)


def smtp_config(connection: SmtpConnection) -> transport.SmtpConfig:
    return transport.SmtpConfig(
        host=connection.host,
        port=connection.port,
        security=connection.security,
        username=connection.username,
        password=connection.password,
        public_only=True,
    )


def platform_smtp_config() -> transport.SmtpConfig | None:
    """The platform's SMTP settings when EMAIL_BACKEND is Django's SMTP backend.

    Those go through our own SMTP client so that they get the same pooled connections,
    classification of failures and recorded server answers as a tenant's own server.
    """
    if settings.EMAIL_BACKEND != PLATFORM_SMTP_BACKEND:
        return None
    security = "tls" if settings.EMAIL_USE_SSL else "starttls" if settings.EMAIL_USE_TLS else "none"
    return transport.SmtpConfig(
        host=settings.EMAIL_HOST,
        port=int(settings.EMAIL_PORT),
        security=security,
        username=settings.EMAIL_HOST_USER,
        password=settings.EMAIL_HOST_PASSWORD,
        timeout=settings.EMAIL_TIMEOUT or transport.TIMEOUT,
    )


def display_name(organization) -> str:
    return organization.sender_name or organization.name


def sender_for(organization, connection: SmtpConnection | None) -> Sender:
    """The tenant's own server when it is enabled (or when testing it), else the platform's."""
    if connection is not None:
        name = connection.from_name or display_name(organization)
        from_header = formataddr((name, connection.from_address))
        signer = dkim_keys.signer_for(organization, from_header)
        return Sender(from_header, smtp_config(connection), signer)
    platform_name, platform_address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    name = display_name(organization) or platform_name
    from_header = formataddr((name, platform_address))
    smtp = platform_smtp_config()
    signer = dkim_keys.signer_for(organization, from_header) if smtp is not None else None
    return Sender(from_header, smtp, signer)


def build(row: OutgoingMessage, sender: Sender) -> EmailMultiAlternatives:
    """The MIME message: text part, HTML alternative, attachments, our headers."""
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.body_text,
        from_email=sender.from_header,
        to=[formataddr((row.to_name, row.to_address))],
        headers={"Message-ID": f"<{row.message_id}>", **row.headers},
    )
    if row.body_html:
        message.attach_alternative(row.body_html, "text/html")
    attachments = _attachments(row.attachment_ids)
    related = [a for a in attachments if _shown_inline(a, row.body_html)]
    for attachment in attachments:
        with attachment.file.open("rb") as handle:
            content = handle.read()
        if attachment in related:
            message.attach(_inline_part(attachment, content))
        else:
            message.attach(attachment.filename, content, attachment.content_type)
    if related and len(related) == len(attachments):
        # Only images the HTML shows: multipart/related (RFC 2387) around the alternative.
        message.mixed_subtype = "related"  # type: ignore[attr-defined]  # a class attribute stubs omit
    return message


def _shown_inline(attachment: Attachment, body_html: str) -> bool:
    """An image the HTML shows by `cid:` (RFC 2392) goes as an inline part with that Content-ID."""
    if not (attachment.inline and attachment.content_id):
        return False
    if attachment.content_type not in INLINE_IMAGE_TYPES:
        return False
    return f'src="cid:{html.escape(attachment.content_id)}"' in body_html


def _inline_part(attachment: Attachment, content: bytes) -> MIMEImage:
    part = MIMEImage(content, _subtype=attachment.content_type.split("/", 1)[1])
    part.add_header("Content-ID", f"<{attachment.content_id}>")
    part.add_header("Content-Disposition", "inline", filename=attachment.filename)
    return part


def _attachments(ids: list[int]) -> list[Attachment]:
    if not ids:
        return []
    return list(Attachment.objects.filter(pk__in=ids).order_by("id"))
