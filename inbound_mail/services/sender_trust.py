"""Whom the tenant believes about a sender: the receiving hosts whose Authentication-Results
headers may prove an agent's mail (inbound_mail.staff_proof)."""

from inbound_mail.models import InboundSettings
from tenants.models import Organization


def trusted_hosts_save(*, organization: Organization, hosts: list[str]) -> InboundSettings:
    """Trust these receiving hosts (authserv-ids, lower case, each once); [] trusts none."""
    cleaned = list(dict.fromkeys(h.strip().lower().rstrip(".") for h in hosts if h.strip()))
    row, _ = InboundSettings.objects.get_or_create(organization=organization)
    row.trusted_authserv_ids = cleaned
    row.save(update_fields=["trusted_authserv_ids"])
    return row
