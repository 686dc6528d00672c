"""Inbound addresses: the support addresses whose mail becomes a tenant's tickets."""

from django.db import transaction

from inbound_mail.models import InboundAddress
from tenants.models import Organization


@transaction.atomic
def inbound_address_add(
    *, organization: Organization, address: str, plus_addressing: bool = True
) -> InboundAddress:
    """A new support address; the tenant's first one becomes the default."""
    first = not InboundAddress.objects.exists()
    return InboundAddress.objects.create(
        organization=organization,
        address=address.strip().lower(),
        plus_addressing=plus_addressing,
        is_default=first,
    )


@transaction.atomic
def inbound_address_make_default(*, address: InboundAddress) -> None:
    InboundAddress.objects.filter(is_default=True).exclude(pk=address.pk).update(is_default=False)
    InboundAddress.objects.filter(pk=address.pk).update(is_default=True)


@transaction.atomic
def inbound_address_remove(*, address: InboundAddress) -> None:
    was_default = address.is_default
    address.delete()
    successor = InboundAddress.objects.order_by("created_at", "id").first()
    if was_default and successor is not None:
        InboundAddress.objects.filter(pk=successor.pk).update(is_default=True)
