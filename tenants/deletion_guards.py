"""What keeps a row from being deleted: higher apps register, per model, a function that names
what still uses a row (automations: the enabled rules and shared macros naming a team, status,
priority or agent), and the settings pages that delete such rows ask here first.

`register(model_label, fn)`: `fn(obj) -> list[Blocker]`; `blockers(obj)` gathers them all;
`refusal(...)` is the page a delete view answers with instead of deleting, or None when
nothing is in the way.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@dataclass(frozen=True)
class Blocker:
    text: str  # 'Rule “Route billing”'
    url: str = ""  # where to change it, when the admin can


Guard = Callable[[Model], list[Blocker]]

_guards: dict[str, list[Guard]] = {}


def register(model_label: str, fn: Guard) -> None:
    """`model_label` like "tenants.Team" (Model._meta.label); registering the same function
    twice (a second ready()) keeps one."""
    found = _guards.setdefault(model_label, [])
    if fn not in found:
        found.append(fn)


def blockers(obj: Model) -> list[Blocker]:
    return [blocker for fn in _guards.get(obj._meta.label, []) for blocker in fn(obj)]


def refusal(
    request: HttpRequest, obj: Model, *, what: str, cancel_url: str, verb: str = "delete"
) -> HttpResponse | None:
    """The "still in use" page (409: nothing was changed, so the audit log records nothing),
    or None when the row may go. `what` names the row: 'the team “Billing”'."""
    found = blockers(obj)
    if not found:
        return None
    context = {"what": what, "verb": verb, "blockers": found, "cancel_url": cancel_url}
    return render(request, "settings/blocked.html", context, status=409)
