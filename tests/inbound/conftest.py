"""Two tenants with a support address each, and a way to deliver raw mail through the pipeline."""

import pytest
from django_scopes import scopes_disabled

from inbound_mail.models import InboundAddress, InboundMessage
from inbound_mail.services import intake


@pytest.fixture
def support(acme, globex):
    """support@acme.test and help@globex.test, each its tenant's default address."""
    for tenant, address in ((acme, "support@acme.test"), (globex, "help@globex.test")):
        with tenant.scope():
            InboundAddress.objects.create(organization=tenant.org, address=address, is_default=True)
    return acme, globex


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """deliver(raw, **intake options) -> the InboundMessage rows, processed (tasks run eagerly
    once the intake commits, as on a worker)."""

    def _deliver(raw: bytes, *, source: str = "command", **options) -> list[InboundMessage]:
        with django_capture_on_commit_callbacks(execute=True):
            receipt = intake.inbound_receive(raw=raw, source=source, **options)
        with scopes_disabled():  # the test looks at every tenant's rows at once
            return list(
                InboundMessage.objects.filter(pk__in=receipt.inbound_ids)
                .select_related("ticket", "comment")
                .order_by("organization_id")
            )

    return _deliver
