"""From an outbox row to bytes on the wire: the sender, the MIME message, the connection."""

from dataclasses import dataclass
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from outbound_mail import transport
from outbound_mail.models import OutgoingMessage, SmtpConnection
from tickets.models import Attachment

PLATFORM_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@dataclass(frozen=True)
class Sender:
    """Who a tenant's mail comes from and the connection that carries it."""

    from_header: str
    smtp: transport.SmtpConfig | None  # None: Django's EMAIL_BACKEND (an ESP, files, memory)

    def send(self, message: EmailMultiAlternatives) -> transport.Outcome:
        if self.smtp is not None:
            return transport.send_smtp(self.smtp, message)
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
        return Sender(formataddr((name, connection.from_address)), smtp_config(connection))
    platform_name, platform_address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    name = display_name(organization) or platform_name
    return Sender(formataddr((name, platform_address)), platform_smtp_config())


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
    for attachment in _attachments(row.attachment_ids):
        with attachment.file.open("rb") as handle:
            message.attach(attachment.filename, handle.read(), attachment.content_type)
    return message


def _attachments(ids: list[int]) -> list[Attachment]:
    if not ids:
        return []
    return list(Attachment.objects.filter(pk__in=ids).order_by("id"))
