"""Macros: applying one to a ticket (its actions, then its reply, in one transaction and one
timeline entry) or to a list selection, and saving, ordering and deleting them.

A macro's changes are the agent's: every row and domain event names the agent who applied
it, so automations may react to them (actor "agent"), and the rows carry the macro's Cause
(tickets.causes) so the timeline shows them under one entry.
"""

import uuid
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Max

from automations import actions
from automations.models import Macro
from tenants.models import Organization, User
from tickets import causes, placeholders, rich_text
from tickets.models import Ticket, TicketEvent
from tickets.services.comments import comment_create

REPLY = "reply"  # the reply's entry in a macro run's results, beside the action types


class MacroFailed(Exception):
    """A step of the macro could not be done, so none of it was applied; the message says
    which and why, for the agent."""


@dataclass
class ManyResult:
    """What applying a macro to a list selection did, by ticket number."""

    applied: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def macro_apply(*, macro: Macro, ticket: Ticket, actor_user: User) -> list[actions.ActionResult]:
    """Apply `macro` to `ticket` as `actor_user`: its actions in order, then its reply, then
    one header row (TicketEvent kind "macro") naming what each step did.

    One transaction: a step that fails raises MacroFailed and nothing of the macro stays.
    When no step changed anything, nothing is written and the results say "unchanged".
    """
    cause = causes.Cause(causes.MACRO, macro.name, uuid.uuid4().hex)
    with transaction.atomic(), causes.acting(cause):
        ticket = _locked(ticket)
        if ticket.merged_into_id:
            raise MacroFailed(f"#{ticket.number} was merged into another ticket; apply it there.")
        results, ticket = _run_actions(macro, ticket, actor_user)
        if macro.reply_text.strip():
            results.append(_reply(macro, ticket, actor_user))
        if any(r.outcome != actions.UNCHANGED for r in results):
            _header(ticket, macro, results, actor_user, cause)
    return results


def macro_apply_many(*, macro: Macro, tickets: list[Ticket], actor_user: User) -> ManyResult:
    """Apply `macro` to each ticket in its own transaction: a ticket it cannot be applied to
    is reported with the reason, the others keep what it did."""
    outcome = ManyResult()
    for ticket in tickets:
        try:
            results = macro_apply(macro=macro, ticket=ticket, actor_user=actor_user)
        except MacroFailed as exc:
            outcome.failed[ticket.number] = str(exc)
            continue
        changed = any(r.outcome != actions.UNCHANGED for r in results)
        (outcome.applied if changed else outcome.unchanged).append(ticket.number)
    return outcome


def _locked(ticket: Ticket) -> Ticket:
    """The ticket, locked, with what the actions, the facts and the placeholders read."""
    return (
        Ticket.objects.select_for_update(of=("self",))
        .select_related(
            "organization", "status", "priority", "team", "assignee", "requester", "customer"
        )
        .get(pk=ticket.pk)
    )


def _run_actions(macro: Macro, ticket: Ticket, actor_user: User):
    results: list[actions.ActionResult] = []
    for action in macro.actions:
        # No facts: a macro answers no event (execute keeps `ticket` up to date itself).
        result = actions.execute(action, ticket=ticket, actor_user=actor_user)
        if result.outcome == actions.FAILED:
            raise MacroFailed(f"“{macro.name}” was not applied: {result.detail}")
        results.append(result)
    if any(r.outcome == actions.DONE for r in results):
        ticket = _locked(ticket)  # the reply's placeholders read the values the actions set
    return results, ticket


def _reply(macro: Macro, ticket: Ticket, actor_user: User) -> actions.ActionResult:
    """The macro's reply as the agent wrote it: placeholders filled with the ticket's values
    after the actions (tickets.placeholders), Markdown like the reply box."""
    text = placeholders.render_canned(macro.reply_text, ticket, actor_user)
    body_html, _uploads = rich_text.reply_html(text, [])
    comment_create(
        ticket=ticket,
        body_text=text,
        body_html=body_html,
        is_public=macro.reply_public,
        author_user=actor_user,
    )
    detail = "Replied" if macro.reply_public else "Added an internal note"
    return actions.ActionResult(action=REPLY, outcome=actions.DONE, detail=detail)


def _header(ticket, macro, results, actor_user, cause: causes.Cause) -> TicketEvent:
    return TicketEvent.objects.create(
        organization_id=ticket.organization_id,
        ticket=ticket,
        kind=TicketEvent.Kind.MACRO,
        actor_user=actor_user,
        data={
            "macro": macro.name,
            "results": [r.as_dict() for r in results],
            "via": cause.stamp(),  # groups the rows it changed under this one (tickets.causes)
        },
    )


# -- editing ------------------------------------------------------------------------------------


@transaction.atomic
def macro_save(
    *,
    organization: Organization,
    macro: Macro | None,
    owner: User | None,
    name: str,
    actions: list[dict],
    reply_text: str,
    reply_public: bool,
) -> Macro:
    """Create (at the end of its list) or update a macro; `owner` None is a shared one.
    The caller validated the actions (automations.actions.validate_actions)."""
    if macro is None:
        macro = Macro(organization=organization, owner=owner, position=_next_position(owner))
    macro.name, macro.actions = name, actions
    macro.reply_text, macro.reply_public = reply_text, reply_public
    macro.save()
    return macro


def _next_position(owner: User | None) -> int:
    top = Macro.objects.filter(owner=owner).aggregate(top=Max("position"))["top"]
    return 0 if top is None else top + 1


@transaction.atomic
def macro_move(*, macro: Macro, up: bool) -> bool:
    """Swap `macro` with its neighbour in its own list (shared, or its owner's); False when it
    is already first (or last)."""
    siblings = list(Macro.objects.select_for_update().filter(owner_id=macro.owner_id))
    index = next(i for i, m in enumerate(siblings) if m.pk == macro.pk)
    other = index - 1 if up else index + 1
    if not 0 <= other < len(siblings):
        return False
    siblings[index], siblings[other] = siblings[other], siblings[index]
    for position, row in enumerate(siblings):
        if row.position != position:
            row.position = position
            row.save(update_fields=["position"])
    return True


def macro_delete(*, macro: Macro) -> None:
    macro.delete()
