"""One action of a rule or a macro, done through the ticket services (the shapes are
automations.schema's; `validate_actions`, the check before one is saved, is
automations.action_checks' and reached from here).

`execute` runs inside the engine's (or the macro's) transaction and inside its
`tickets.causes.acting(...)`, so every TicketEvent it writes says which rule or macro made it
and every domain event it emits carries the chain it belongs to. Each action reports what it
did: "done"; "unchanged" when the ticket already is as the action wants it (then it wrote no
TicketEvent and emitted nothing, which is what stops a rule that sets a field to its own value
from feeding a loop); or "failed" with a reason a person can act on (the status it names was
deleted, nobody in the team is available). It raises only on bugs; the engine records those.

Mail to the requester and notices to agents are domain events (AUTOMATION_MAIL,
AUTOMATION_NOTIFY) that outbound_mail delivers after commit, through the outbox and each
agent's preferences.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from automations import assignment
from automations.action_checks import is_email, is_id
from automations.action_checks import validate_actions as validate_actions  # callers' entry
from automations.schema import ActionType, AssignMode, NotifyTarget
from tenants.models import Membership, Team, TeamMember, User
from tickets import causes, events, placeholders
from tickets.models import Collaborator, Comment, Priority, Status, Ticket
from tickets.services.comments import comment_create
from tickets.services.contacts import contact_get_or_create
from tickets.services.status_change import STATUS_FIELDS
from tickets.services.tags import TagError, tag_names_parse, ticket_tags_add, ticket_tags_remove
from tickets.services.tickets import (
    collaborator_add,
    ticket_assign,
    ticket_change_priority,
    ticket_change_status,
    ticket_change_team,
)

if TYPE_CHECKING:
    from automations.facts import Facts

M = TypeVar("M", Status, Priority, Team)

DONE = "done"
UNCHANGED = "unchanged"
FAILED = "failed"


@dataclass(frozen=True)
class ActionResult:
    action: str  # the action's type
    outcome: str  # DONE, UNCHANGED or FAILED
    detail: str  # what it did, or why not, for the run log and the timeline
    # The tags a done tags action added or removed, as stored: the engine's facts follow them
    # for the later rules of the event (not shown; not in as_dict).
    tags_added: tuple[str, ...] = ()
    tags_removed: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"action": self.action, "outcome": self.outcome, "detail": self.detail}


class _Stop(Exception):
    """An action ends early with this result (nothing to change, or it cannot be done)."""

    def __init__(self, result: ActionResult):
        super().__init__(result.detail)
        self.result = result


@dataclass
class _Step:
    """One action being executed: its data, the (locked) ticket and who acts."""

    action: dict
    ticket: Ticket
    facts: Facts | None
    actor: User | None
    held: bool = False  # the caller holds `ticket` locked and current (the services' `held`)

    @property
    def kind(self) -> str:
        return str(self.action.get("type"))

    def result(self, outcome: str, detail: str) -> ActionResult:
        return ActionResult(self.kind, outcome, detail)

    def stop(self, outcome: str, detail: str) -> _Stop:
        return _Stop(self.result(outcome, detail))

    def ref(self, key: str, what: str) -> int:
        value = self.action.get(key)
        if not is_id(value):
            raise self.stop(FAILED, f"This action names no {what}.")
        return value

    def text(self, key: str, what: str) -> str:
        value = self.action.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.stop(FAILED, f"This action has no {what}.")
        return value

    def row(self, model: type[M], pk: int) -> M | None:
        """The tenant's row of `model` with this id, or None; a rule's are remembered for
        the rest of its batch of events (automations.facts.TenantLookups)."""
        if self.facts is not None:
            return self.facts.lookups.row(model, pk)
        return model.objects.filter(pk=pk).first()

    def strings(self, key: str, what: str) -> list[str]:
        value = self.action.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.stop(FAILED, f"This action lists no {what}.")
        return value


def execute(
    action: dict,
    *,
    ticket: Ticket,
    facts: Facts | None = None,
    actor_user: User | None = None,
    held: bool = False,
) -> ActionResult:
    """Do one action to `ticket` (locked by the caller, whose transaction this runs in).

    `actor_user` is the agent applying a macro; None for a rule (no person acted). `ticket` is
    kept up to date with what the action changed, for the actions after it. With `held` the
    caller vouches that `ticket` is as the database has it (locked, every field, its related
    rows loaded): the services change it in place instead of reading it again, so a caller
    whose savepoint rolls an action back must not pass it.
    """
    kind = action.get("type") if isinstance(action, dict) else None
    handler = _HANDLERS.get(str(kind))
    if handler is None:
        return ActionResult(str(kind), FAILED, f"Unknown action “{kind}”.")
    try:
        return handler(_Step(action, ticket, facts, actor_user, held))
    except _Stop as stop:
        return stop.result


# -- fields ------------------------------------------------------------------------------------


def _set_status(step: _Step) -> ActionResult:
    status = step.row(Status, step.ref("status_id", "status"))
    if status is None:
        raise step.stop(FAILED, "The status to set no longer exists.")
    ticket = step.ticket
    if ticket.status_id == status.pk:
        return step.result(UNCHANGED, f"The status is already {status.name}.")
    changed = ticket_change_status(
        ticket=ticket, status=status, actor_user=step.actor, held=step.held
    )
    _follow(ticket, changed, *STATUS_FIELDS, "status_changed_at")
    return step.result(DONE, f"Status set to {status.name}.")


def _set_priority(step: _Step) -> ActionResult:
    priority = step.row(Priority, step.ref("priority_id", "priority"))
    if priority is None:
        raise step.stop(FAILED, "The priority to set no longer exists.")
    ticket = step.ticket
    if ticket.priority_id == priority.pk:
        return step.result(UNCHANGED, f"The priority is already {priority.name}.")
    changed = ticket_change_priority(
        ticket=ticket, priority=priority, actor_user=step.actor, held=step.held
    )
    _follow(ticket, changed, "priority", "updated_at")
    return step.result(DONE, f"Priority set to {priority.name}.")


def _set_team(step: _Step) -> ActionResult:
    if "team_id" not in step.action:
        raise step.stop(FAILED, "This action names no team.")
    team = None if step.action["team_id"] is None else _team(step, "team_id", "to set")
    ticket = step.ticket
    if ticket.team_id == (team.pk if team else None):
        now = f"already {team.name}" if team else "already empty"
        return step.result(UNCHANGED, f"The team is {now}.")
    changed = ticket_change_team(ticket=ticket, team=team, actor_user=step.actor, held=step.held)
    _follow(ticket, changed, "team", "updated_at")
    return step.result(DONE, f"Team set to {team.name}." if team else "Team removed.")


def _follow(ticket: Ticket, changed: Ticket, *fields: str) -> None:
    """The services change their own copy of the ticket; the caller's sees it too."""
    for name in fields:
        if hasattr(changed, name):
            setattr(ticket, name, getattr(changed, name))


# -- assignment --------------------------------------------------------------------------------


def _assign(step: _Step) -> ActionResult:
    mode = step.action.get("mode")
    if mode == AssignMode.USER:
        user = _member(step.ref("user_id", "agent"))
        if user is None:
            raise step.stop(FAILED, "The agent to assign is no longer a member of this workspace.")
        return _assign_to(step, user)
    if mode == AssignMode.UNASSIGN:
        return _assign_to(step, None)
    if mode in (AssignMode.ROUND_ROBIN, AssignMode.LEAST_LOADED):
        return _assign_within_team(step, mode)
    raise step.stop(FAILED, f"Unknown way to assign: “{mode}”.")


def _assign_within_team(step: _Step, mode: str) -> ActionResult:
    team = _team_of_action_or_ticket(step, "to assign within", no_team=FAILED)
    ticket = step.ticket
    if ticket.assignee is not None and _in_team(team, ticket.assignee):
        # Already one of the team's: taking it away would cost the team a turn for nothing.
        name = ticket.assignee.display_name
        return step.result(UNCHANGED, f"Already assigned to {name}, a member of {team.name}.")
    round_robin = mode == AssignMode.ROUND_ROBIN
    user = assignment.round_robin(team=team) if round_robin else assignment.least_loaded(team=team)
    if user is None:
        raise step.stop(FAILED, f"Nobody in {team.name} can take it: no member is available.")
    how = "round-robin" if round_robin else "least-loaded"
    return _assign_to(step, user, how=f" ({how} within {team.name})")


def _assign_to(step: _Step, user: User | None, how: str = "") -> ActionResult:
    ticket = step.ticket
    if ticket.assignee_id == (user.pk if user else None):
        now = f"already assigned to {user.display_name}" if user else "already unassigned"
        return step.result(UNCHANGED, f"The ticket is {now}.")
    changed = ticket_assign(ticket=ticket, assignee=user, actor_user=step.actor, held=step.held)
    _follow(ticket, changed, "assignee", "updated_at")
    return step.result(DONE, f"Assigned to {user.display_name}{how}." if user else "Unassigned.")


def _in_team(team: Team, user: User) -> bool:
    return user.is_active and TeamMember.objects.filter(team=team, user=user).exists()


def _member(user_id: int | None) -> User | None:
    """The active user with this id if they are a member of this tenant."""
    if user_id is None:
        return None
    found = Membership.objects.filter(user_id=user_id, user__is_active=True).select_related("user")
    membership = found.first()
    return membership.user if membership else None


def _team(step: _Step, key: str, purpose: str) -> Team:
    team = step.row(Team, step.ref(key, "team"))
    if team is None:
        raise step.stop(FAILED, f"The team {purpose} no longer exists.")
    return team


def _team_of_action_or_ticket(step: _Step, purpose: str, *, no_team: str) -> Team:
    """The team the action names, or (when it names none) the ticket's team at the time;
    without either the action ends with `no_team` as its outcome."""
    if step.action.get("team_id") is not None:
        return _team(step, "team_id", purpose)
    team = step.ticket.team if step.ticket.team_id else None
    if team is None:
        raise step.stop(no_team, "The ticket has no team.")
    return team


# -- tags and collaborators --------------------------------------------------------------------


def _tag_names(step: _Step) -> list[str]:
    names = step.strings("names", "tags")
    try:
        return tag_names_parse(", ".join(names))
    except TagError as exc:
        raise step.stop(FAILED, str(exc)) from None


def _add_tags(step: _Step) -> ActionResult:
    known = step.facts.lookups.tags if step.facts is not None else None
    names = _tag_names(step)
    added = ticket_tags_add(ticket=step.ticket, names=names, actor_user=step.actor, known=known)
    if not added:
        return step.result(UNCHANGED, "The ticket already has these tags.")
    return replace(step.result(DONE, f"Tagged {', '.join(added)}."), tags_added=tuple(added))


def _remove_tags(step: _Step) -> ActionResult:
    removed = ticket_tags_remove(ticket=step.ticket, names=_tag_names(step), actor_user=step.actor)
    if not removed:
        return step.result(UNCHANGED, "The ticket has none of these tags.")
    noun = "tag" if len(removed) == 1 else "tags"
    result = step.result(DONE, f"Removed the {noun} {', '.join(removed)}.")
    return replace(result, tags_removed=tuple(removed))


def _add_collaborators(step: _Step) -> ActionResult:
    emails = [e.strip().lower() for e in step.strings("emails", "addresses")]
    for email in emails:
        if not is_email(email):
            raise step.stop(FAILED, f"“{email}” is not an email address.")
    ticket = step.ticket
    have = set(Collaborator.objects.filter(ticket=ticket).values_list("contact_id", flat=True))
    have.add(ticket.requester_id)
    added = []
    for email in dict.fromkeys(emails):
        contact = contact_get_or_create(organization=ticket.organization, email=email)
        if contact.pk not in have:
            collaborator_add(ticket=ticket, contact=contact, actor_user=step.actor)
            have.add(contact.pk)
            added.append(contact.email)
    if not added:
        return step.result(UNCHANGED, "They already follow the conversation.")
    noun = "a collaborator" if len(added) == 1 else "collaborators"
    return step.result(DONE, f"Added {', '.join(added)} as {noun}.")


# -- notes, mail and notices -------------------------------------------------------------------


def _add_note(step: _Step) -> ActionResult:
    body = step.text("body", "note")
    ticket = step.ticket
    text = placeholders.render_canned(body, ticket, step.actor).strip()
    if not text:
        raise step.stop(FAILED, "The note is empty once its placeholders are filled.")
    channel = Comment.Channel.AGENT if step.actor else Comment.Channel.SYSTEM
    comment_create(
        ticket=ticket,
        body_text=text,
        is_public=False,
        author_user=step.actor,
        channel=channel,
        held=step.held,
    )
    return step.result(DONE, f"Added an internal note: “{_short(text)}”.")


def _mail_requester(step: _Step) -> ActionResult:
    subject = step.text("subject", "subject")
    body = step.text("body", "message")
    # RFC 3834 section 2: never answer an automatic message (outbound_mail withholds it).
    event_data = step.facts.event_data if step.facts is not None else {}
    data = {
        **_origin(),
        "subject": subject,
        "body": body,
        "after_automatic": bool(event_data.get("auto_generated")),
    }
    _emit(step, events.AUTOMATION_MAIL, data)
    address = step.ticket.requester.email
    return step.result(DONE, f"Mail “{_short(subject)}” queued for the requester ({address}).")


def _notify(step: _Step) -> ActionResult:
    message = step.text("message", "message")
    # The agent applying a macro is never told of their own act (nor is outbound_mail's rule).
    users = [u for u in _notify_targets(step) if step.actor is None or u.pk != step.actor.pk]
    if not users:
        raise step.stop(UNCHANGED, "Nobody to notify.")
    data = {**_origin(), "user_ids": [u.pk for u in users], "message": message}
    _emit(step, events.AUTOMATION_NOTIFY, data)
    return step.result(DONE, f"Notified {', '.join(u.display_name for u in users)}.")


def _notify_targets(step: _Step) -> list[User]:
    target = step.action.get("target")
    if target == NotifyTarget.USER:
        user = _member(step.ref("user_id", "agent"))
        if user is None:
            raise step.stop(FAILED, "The agent to notify is no longer a member of this workspace.")
        return [user]
    if target == NotifyTarget.ASSIGNEE:
        if step.ticket.assignee_id is None:
            raise step.stop(UNCHANGED, "The ticket has no assignee to notify.")
        user = _member(step.ticket.assignee_id)
        return [user] if user else []
    if target in (NotifyTarget.TEAM, NotifyTarget.TEAM_MANAGERS):
        team = _team_of_action_or_ticket(step, "to notify", no_team=UNCHANGED)
        return _team_users(team, managers=target == NotifyTarget.TEAM_MANAGERS)
    raise step.stop(FAILED, f"Unknown notice target “{target}”.")


def _team_users(team: Team, *, managers: bool) -> list[User]:
    in_team = TeamMember.objects.filter(team=team)
    if managers:
        in_team = in_team.filter(is_manager=True)
    members = Membership.objects.filter(
        user_id__in=in_team.values("user_id"), user__is_active=True
    ).select_related("user")
    return [m.user for m in members.order_by("user_id")]


def _origin() -> dict:
    """Which rule (or macro) asks, for the mail's and the notice's wording."""
    cause = causes.current()
    if cause is None:
        return {"rule": "", "kind": causes.AUTOMATION}
    return {"rule": cause.name, "kind": cause.kind}


def _emit(step: _Step, name: str, data: dict) -> None:
    ticket = step.ticket
    actor_id = step.actor.pk if step.actor else None
    events.emit(events.DomainEvent(name, ticket.organization_id, ticket.pk, actor_id, data))


def _short(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


_HANDLERS: dict[str, Callable[[_Step], ActionResult]] = {
    ActionType.SET_STATUS: _set_status,
    ActionType.SET_PRIORITY: _set_priority,
    ActionType.SET_TEAM: _set_team,
    ActionType.ASSIGN: _assign,
    ActionType.ADD_TAGS: _add_tags,
    ActionType.REMOVE_TAGS: _remove_tags,
    ActionType.ADD_COLLABORATORS: _add_collaborators,
    ActionType.ADD_NOTE: _add_note,
    ActionType.MAIL_REQUESTER: _mail_requester,
    ActionType.NOTIFY: _notify,
}
