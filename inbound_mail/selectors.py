"""Reads for inbound mail, always within the active tenant (the platform quarantine excepted)."""

from dataclasses import dataclass

from django.db.models import QuerySet

from inbound_mail import domains
from inbound_mail.models import (
    AddressConfirmation,
    InboundAddress,
    InboundMessage,
    InboundSettings,
    Mailbox,
    MailDomain,
    SpamRule,
    UnclaimedMessage,
)
from tenants.models import Membership, Organization

QUARANTINE_STATUSES = (InboundMessage.Status.QUARANTINED, InboundMessage.Status.FAILED)
LIST_LIMIT = 200


def inbound_addresses() -> set[str]:
    """The active tenant's inbound addresses, lower-case."""
    return set(InboundAddress.objects.values_list("address", flat=True))


@dataclass(frozen=True)
class MailDomainRow:
    """A custom mail domain and the TXT record that verifies it."""

    domain: MailDomain
    txt_value: str
    txt_names: list[str]


def address_settings(*, organization: Organization) -> dict:
    """What the Inbound addresses page shows: addresses, those waiting for their confirmation
    mail, custom mail domains with the TXT record each needs, the tenant's platform domains."""
    mail_domains = [
        MailDomainRow(d, domains.txt_value(d), domains.txt_names(d.domain))
        for d in MailDomain.objects.all()
    ]
    return {
        "addresses": list(InboundAddress.objects.all()),
        "confirmations": list(AddressConfirmation.objects.all()),
        "mail_domains": mail_domains,
        "platform_domains": domains.tenant_platform_domains(organization),
    }


def default_inbound_address() -> InboundAddress | None:
    """The address replies go out from: the one marked default, else the oldest."""
    return InboundAddress.objects.order_by("-is_default", "created_at", "id").first()


def spam_rule_for(address: str) -> SpamRule | None:
    """The rule that rejects this sender: the address itself, its domain or a parent domain."""
    return SpamRule.objects.filter(value__in=spam_candidates(address)).order_by("value").first()


def spam_candidates(address: str) -> list[str]:
    """The values a rule may have to reject this sender: the address and its domains."""
    address = address.strip().lower()
    labels = address.rpartition("@")[2].split(".")
    return [address, *(".".join(labels[i:]) for i in range(len(labels) - 1))]


def staff_membership(address: str) -> Membership | None:
    """The tenant's active staff member who uses this address, if any."""
    return staff_memberships([address]).get(address.strip().lower())


def staff_memberships(addresses: list[str]) -> dict[str, Membership]:
    """Address -> the tenant's active staff member who uses it, for any number of addresses."""
    wanted = {a.strip().lower() for a in addresses if a}
    if not wanted:
        return {}
    rows = Membership.objects.filter(user__email__in=wanted, user__is_active=True)
    return {m.user.email: m for m in rows.select_related("user")}


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


def trusted_authserv_ids() -> list[str]:
    """The receiving hosts whose Authentication-Results the active tenant trusts (none unset)."""
    row = InboundSettings.objects.first()
    return list(row.trusted_authserv_ids) if row is not None else []
