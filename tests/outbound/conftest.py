"""Two tenants whose mail goes to a real SMTP server on loopback, and helpers to run events."""

from datetime import UTC, datetime

import pytest

from inbound_mail.models import InboundAddress
from outbound_mail import transport
from outbound_mail.models import OutgoingMessage, SmtpConnection
from outbound_mail.services.connections import mail_settings_save, smtp_connection_save

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _close_smtp_sessions(settings):
    # The SMTP peers listen on loopback, which tenants' own servers may not use in production.
    settings.OUTBOUND_SMTP_ALLOW_PRIVATE_HOSTS = True
    yield
    # Pooled sessions belong to a peer that stops with the test.
    transport.pool.close_all()


def connect(tenant, peer, **overrides) -> SmtpConnection:
    """The tenant sends through `peer` (its own SMTP server, switched on)."""
    values = {
        "enabled": True,
        "host": peer.host,
        "port": peer.port,
        "security": SmtpConnection.Security.NONE,
        "from_address": f"support@{tenant.org.slug}.test",
        "from_name": "",
        **overrides,
    }
    with tenant.scope():
        return smtp_connection_save(organization=tenant.org, **values)


def support_address(tenant, *, plus: bool = True) -> InboundAddress:
    with tenant.scope():
        return InboundAddress.objects.create(
            organization=tenant.org,
            address=f"support@{tenant.org.slug}.test",
            plus_addressing=plus,
            is_default=True,
        )


@pytest.fixture
def mailer(acme, globex, smtp_peer):
    """Both tenants send through the loopback peer; acme has support@acme.test (plus-addressed)."""
    for tenant in (acme, globex):
        connect(tenant, smtp_peer)
        support_address(tenant)
    return smtp_peer


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """`with run(): ...` runs what the block queues after commit (events, tasks), as live."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def rows(tenant, **filters) -> list[OutgoingMessage]:
    with tenant.scope():
        return list(OutgoingMessage.objects.filter(**filters).order_by("id"))


def set_debounce(tenant, seconds: int) -> None:
    with tenant.scope():
        mail_settings_save(organization=tenant.org, debounce_seconds=seconds)


def parts(message) -> dict[str, str]:
    """The text and HTML bodies of a received message, by content type."""
    found = {}
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "text/html") and not part.get_filename():
            found.setdefault(part.get_content_type(), part.get_content())
    return found
