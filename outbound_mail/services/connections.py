"""The tenant's way out: its SMTP connection, and the mail settings saved beside it (debounce,
limits on automatic mail, who hears of new tickets)."""

from outbound_mail import delivery, transport
from outbound_mail.models import MailSettings, SmtpConnection
from tenants.models import Organization


def mail_settings_save(*, organization: Organization, **values) -> MailSettings:
    row = MailSettings.objects.filter(organization=organization).first()
    row = row or MailSettings(organization=organization)
    for name, value in values.items():
        setattr(row, name, value)
    row.save()
    return row


def smtp_connection_save(*, organization: Organization, **values) -> SmtpConnection:
    """Create or change the tenant's SMTP server; an empty password keeps the stored one."""
    row = SmtpConnection.objects.filter(organization=organization).first()
    row = row or SmtpConnection(organization=organization)
    password = values.pop("password", "")
    for name, value in values.items():
        setattr(row, name, value)
    if password:
        row.password = password
    row.save()
    if row.enabled:
        transport.pool.discard(delivery.smtp_config(row))
    return row
