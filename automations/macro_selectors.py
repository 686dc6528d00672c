"""Reads of macros: the ones an agent may apply (the shared ones and their own), and the
ones each settings list shows. Another agent's personal macro is never among them."""

from django.db.models import F, Q, QuerySet

from automations.models import Macro
from tenants.models import User


def macros_usable_by(user: User) -> QuerySet[Macro]:
    """Shared macros first, then the agent's own, each list in its order."""
    return Macro.objects.filter(Q(owner__isnull=True) | Q(owner=user)).order_by(
        F("owner").asc(nulls_first=True), "position", "name", "id"
    )


def macro_usable_by(user: User, pk) -> Macro | None:
    if not str(pk).isdigit():
        return None
    return macros_usable_by(user).filter(pk=pk).first()


def macros_owned_by(owner: User | None) -> QuerySet[Macro]:
    """The shared list (`owner` None) or one agent's own list, in order."""
    return Macro.objects.filter(owner=owner)
