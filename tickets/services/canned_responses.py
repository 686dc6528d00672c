"""Canned responses: the reusable replies agents insert (their admin deletion and the other
settings entities live in tickets.settings_services)."""

from tenants.models import Organization
from tickets.models import CannedResponse


def canned_response_save(
    *, organization: Organization, name: str, body: str, canned: CannedResponse | None = None
) -> CannedResponse:
    canned = canned or CannedResponse(organization=organization)
    canned.name, canned.body = name.strip(), body
    canned.save()
    return canned
