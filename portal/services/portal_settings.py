"""Settings -> Portal's changes: the tenant's portal settings, and which customers' contacts
see all of their company's tickets (CompanyAccess). Each change is audited by
tenants.audit (every successful POST under /settings/)."""

from django.db import transaction

from portal.models import CompanyAccess, PortalSettings
from tenants.models import Organization
from tickets.models import Customer

EDITABLE = (
    "portal_enabled",
    "contact_form_enabled",
    "contact_form_intake",
    "welcome_text",
    "label_new",
    "label_open",
    "label_pending",
    "label_resolved",
    "label_closed",
)


def portal_settings_update(*, settings: PortalSettings, **changes) -> PortalSettings:
    """Save the fields named (only those of EDITABLE)."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise TypeError(f"Not a portal setting: {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        setattr(settings, name, value)
    settings.save(update_fields=[*changes, "updated_at"])
    return settings


def company_access_set(*, organization: Organization, customer: Customer, allowed: bool) -> bool:
    """Let the customer's contacts see all of its tickets, or only their own; True when
    something changed."""
    with transaction.atomic():
        if allowed:
            _, created = CompanyAccess.objects.get_or_create(
                organization=organization, customer=customer
            )
            return created
        deleted, _ = CompanyAccess.objects.filter(customer=customer).delete()
        return deleted > 0
