"""The active tenant: one place that enters it, so that it is never entered with None.

django-scopes' ScopedManager filters by the scope's value, but treats `None` as "no filter";
`tenant_scope` refuses None so a missing tenant can never widen a query.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django_scopes import get_scope, scope


class TenantMismatch(Exception):
    """A write tried to put a row into another tenant than the active one."""


@contextmanager
def tenant_scope(organization) -> Iterator[None]:
    if organization is None or getattr(organization, "pk", None) is None:
        raise ValueError("tenant_scope needs a saved organization, never None")
    with scope(organization=organization):
        yield


def active_organization_id() -> int | None:
    current = get_scope()
    if not current.get("_enabled", True):
        return None
    org = current.get("organization")
    return getattr(org, "pk", None)


def assert_writable(obj) -> None:
    """Raise unless `obj.organization_id` is the active tenant (or scopes are disabled)."""
    current = get_scope()
    if not current.get("_enabled", True):
        return  # scopes_disabled() blocks: seeding, migrations, platform staff tools
    active = active_organization_id()
    if active is None or obj.organization_id != active:
        raise TenantMismatch(
            f"{type(obj).__name__} of organization {obj.organization_id} "
            f"written while tenant {active} is active"
        )
