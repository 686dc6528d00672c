"""Reads for inbound mail, always within the active tenant (the platform quarantine excepted)."""

from django.db.models import QuerySet

from inbound_mail.models import InboundAddress, InboundMessage, Mailbox, SpamRule, UnclaimedMessage
from tenants.models import Membership

QUARANTINE_STATUSES = (InboundMessage.Status.QUARANTINED, InboundMessage.Status.FAILED)
LIST_LIMIT = 200


def inbound_addresses() -> set[str]:
    """The active tenant's inbound addresses, lower-case."""
    return set(InboundAddress.objects.values_list("address", flat=True))


def default_inbound_address() -> InboundAddress | None:
    """The address replies go out from: the one marked default, else the oldest."""
    return InboundAddress.objects.order_by("-is_default", "created_at", "id").first()


def spam_rule_for(address: str) -> SpamRule | None:
    """The rule that rejects this sender: the address itself, its domain or a parent domain."""
    address = address.strip().lower()
    labels = address.rpartition("@")[2].split(".")
    domains = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    return SpamRule.objects.filter(value__in=[address, *domains]).order_by("value").first()


def staff_membership(address: str) -> Membership | None:
    """The tenant's active staff member who uses this address, if any."""
    return (
        Membership.objects.filter(user__email=address.strip().lower(), user__is_active=True)
        .select_related("user")
        .first()
    )


def quarantine_list(*, show: str = "quarantine") -> QuerySet[InboundMessage]:
    """Rows for the quarantine page: waiting for a person, or (show="ignored") set aside."""
    qs = InboundMessage.objects.all()
    if show == "ignored":
        qs = qs.filter(status=InboundMessage.Status.IGNORED)
    else:
        qs = qs.filter(status__in=QUARANTINE_STATUSES)
    return qs.order_by("-received_at", "-id")[:LIST_LIMIT]


def inbound_message(pk: int) -> InboundMessage | None:
    return InboundMessage.objects.filter(pk=pk).first()


def mailboxes() -> QuerySet[Mailbox]:
    return Mailbox.objects.order_by("name", "id")


def unclaimed_list() -> QuerySet[UnclaimedMessage]:
    """The platform quarantine; only platform staff see it (no tenant owns these rows)."""
    return UnclaimedMessage.objects.order_by("-received_at", "-id")[:LIST_LIMIT]
