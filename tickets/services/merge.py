"""Merging and splitting: a duplicate ticket merged into another, one comment split off into a
new ticket, and two contacts of the same person merged into one.

Each is one transaction that locks the rows it moves, writes a TicketEvent on every ticket it
touches, and runs the handlers apps above tickets registered in `tickets.merging` (their
threading and outbox rows move in the same transaction).
"""

import dataclasses

from django.db import transaction
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone

from tenants.models import User
from tenants.scoping import bulk_create_checked
from tickets import events, hooks, merging
from tickets.models import (
    Attachment,
    Collaborator,
    Comment,
    Contact,
    ContactEmail,
    StatusCategory,
    Ticket,
    TicketEvent,
)
from tickets.selectors import bump_list_version
from tickets.services.comments import _message_clocks, _preview
from tickets.services.defaults import default_status
from tickets.services.status_change import STATUS_FIELDS, _status_change
from tickets.services.tickets import _created_event_row, _next_number, _ticket_row
from tickets.services.timeline import _event, _event_row


class MergeError(ValueError):
    """A merge or split that cannot be made; the message says why (shown to the agent)."""


def _locked(model, pks: list[int]) -> dict:
    # Always in primary-key order, so two merges of the same pair cannot deadlock.
    rows = model.objects.select_for_update(of=("self",)).filter(pk__in=pks).order_by("pk")
    return {row.pk: row for row in rows}


# -- tickets -----------------------------------------------------------------------------------


@transaction.atomic
def ticket_merge(*, ticket: Ticket, into: Ticket, actor_user: User) -> Ticket:
    """Merge the duplicate `ticket` into `into`: its comments, attachments, collaborators (its
    requester among them when another person) and Message-IDs move, so later mail to either
    threads to the survivor; the duplicate closes with a link to it. Returns the survivor."""
    if ticket.pk == into.pk:
        raise MergeError("A ticket cannot be merged into itself.")
    locked = _locked(Ticket, [ticket.pk, into.pk])
    if len(locked) != 2:
        raise MergeError("That ticket no longer exists.")
    source, target = locked[ticket.pk], locked[into.pk]
    if source.merged_into_id:
        raise MergeError(f"Ticket #{source.number} was already merged.")
    if target.merged_into_id:
        raise MergeError(f"Ticket #{target.number} was merged itself; merge into its survivor.")
    moved = list(Comment.objects.filter(ticket=source))
    Comment.objects.filter(ticket=source).update(ticket=target)
    Attachment.objects.filter(ticket=source).update(ticket=target)
    _repoint_inline_images(moved, source.number, target.number)
    _move_collaborators(source, target)
    merging.tickets_merged(source.pk, target.pk)
    _close_merged(source, target, actor_user)
    _event(source, TicketEvent.Kind.MERGED, actor_user=actor_user, into=target.number)
    _event(
        target,
        TicketEvent.Kind.MERGED,
        actor_user=actor_user,
        merged=source.number,
        comments=len(moved),
    )
    _refresh_activity(target)
    transaction.on_commit(lambda: bump_list_version(target.organization_id))
    return target


def _move_collaborators(source: Ticket, target: Ticket) -> None:
    existing = set(Collaborator.objects.filter(ticket=target).values_list("contact_id", flat=True))
    wanted = set(Collaborator.objects.filter(ticket=source).values_list("contact_id", flat=True))
    wanted.add(source.requester_id)
    bulk_create_checked(
        Collaborator,
        [
            Collaborator(organization_id=target.organization_id, ticket=target, contact_id=pk)
            for pk in sorted(wanted - existing - {target.requester_id})
        ],
    )
    Collaborator.objects.filter(ticket=source).delete()


def _close_merged(source: Ticket, target: Ticket, actor_user: User) -> None:
    source = Ticket.objects.select_related("status").get(pk=source.pk)
    source.merged_into = target
    old_status = source.status
    change = _status_change(source, default_status(StatusCategory.CLOSED), actor_user=actor_user)
    if change is None:
        source.save(update_fields=["merged_into"])
        return
    row, domain_event = change
    row.save()
    source.save(update_fields=["merged_into", *STATUS_FIELDS])
    # Closed like any ticket: its SLA timers stop in this transaction.
    hooks.run(hooks.STATUS_CHANGED, changes=[(source, old_status)])
    # Announced without the agent as actor: the customer hears nothing of a ticket merely
    # closed as a duplicate (outbound_mail tells customers only of agents' changes).
    events.emit(dataclasses.replace(domain_event, actor_user_id=None))


def _repoint_inline_images(comments: list[Comment], old: int, new: int) -> None:
    """Inline images link to /agent/tickets/<number>/attachments/<pk>/ (attachments.py); the
    attachment now answers under its new ticket's number."""
    old_prefix = reverse("tickets:attachment", args=[old, 0])[:-2]
    new_prefix = reverse("tickets:attachment", args=[new, 0])[:-2]
    for comment in comments:
        if old_prefix in comment.body_html:
            comment.body_html = comment.body_html.replace(old_prefix, new_prefix)
            comment.save(update_fields=["body_html"])


def _refresh_activity(ticket: Ticket) -> None:
    public = Comment.objects.filter(ticket=ticket, is_public=True)
    latest = public.order_by("-created_at").first()
    ticket.last_message_preview = _preview(latest.body_text) if latest else ""
    ticket.updated_at = ticket.last_activity_at = timezone.now()
    # The automations' clocks follow the public messages the ticket holds now.
    clocks = public.aggregate(
        last_agent_reply_at=Max("created_at", filter=Q(author_user__isnull=False)),
        last_customer_message_at=Max(
            "created_at", filter=Q(author_user__isnull=True, author_contact__isnull=False)
        ),
    )
    for name, value in clocks.items():
        setattr(ticket, name, value)
    fields = ["last_message_preview", "updated_at", "last_activity_at", *clocks]
    ticket.save(update_fields=fields)


@transaction.atomic
def ticket_split(*, comment: Comment, actor_user: User, subject: str = "") -> Ticket:
    """A new ticket (same requester, priority and team) from one comment of another; the
    comment and its attachments move to it. Returns the new ticket."""
    ticket = _locked(Ticket, [comment.ticket_id])[comment.ticket_id]
    if ticket.merged_into_id:
        raise MergeError(f"Ticket #{ticket.number} was merged; split from its survivor.")
    if Comment.objects.filter(ticket=ticket).count() < 2:
        raise MergeError("The ticket's only message cannot be split off.")
    comment = Comment.objects.get(pk=comment.pk, ticket=ticket)
    new = _ticket_row(
        organization=ticket.organization,
        number=_next_number(ticket.organization),
        subject=subject.strip() or ticket.subject,
        status=default_status(StatusCategory.OPEN),
        priority=ticket.priority,
        requester=ticket.requester,
        source=ticket.source,
        body_text=comment.body_text if comment.is_public else "",
        created_at=timezone.now(),
        team=ticket.team,
        assignee=ticket.assignee,
        **_message_clocks(comment, comment.created_at),
    )
    new.save()
    _created_event_row(new, actor_user, Ticket.Source.AGENT).save()
    comment.ticket = new
    comment.save(update_fields=["ticket"])
    Attachment.objects.filter(comment=comment).update(ticket=new)
    _repoint_inline_images([comment], ticket.number, new.number)
    _event(ticket, TicketEvent.Kind.SPLIT, actor_user=actor_user, to=new.number)
    _event(new, TicketEvent.Kind.SPLIT, actor_user=actor_user, **{"from": ticket.number})
    _refresh_activity(ticket)
    transaction.on_commit(lambda: bump_list_version(ticket.organization_id))
    return new


# -- contacts ----------------------------------------------------------------------------------


@transaction.atomic
def contact_merge(*, contact: Contact, into: Contact, actor_user: User) -> Contact:
    """Merge `contact` into `into`: tickets (as requester), comments (as author), timeline
    entries, collaborations and addresses move to the survivor; `contact` is deleted and each
    affected ticket says so on its timeline. Returns the survivor."""
    if contact.pk == into.pk:
        raise MergeError("A contact cannot be merged into itself.")
    locked = _locked(Contact, [contact.pk, into.pk])
    if len(locked) != 2:
        raise MergeError("That contact no longer exists.")
    source, target = locked[contact.pk], locked[into.pk]
    tickets = list(
        Ticket.objects.filter(
            Q(requester=source)
            | Q(pk__in=Collaborator.objects.filter(contact=source).values("ticket_id"))
            | Q(pk__in=Comment.objects.filter(author_contact=source).values("ticket_id"))
        ).order_by("pk")
    )
    Ticket.objects.filter(requester=source).update(requester=target)
    Comment.objects.filter(author_contact=source).update(author_contact=target)
    TicketEvent.objects.filter(actor_contact=source).update(actor_contact=target)
    _move_collaborations(source, target)
    ContactEmail.objects.filter(contact=source).update(contact=target)
    merging.contacts_merged(source.pk, target.pk)
    _absorb(target, source)
    bulk_create_checked(
        TicketEvent,
        [
            _event_row(
                ticket,
                TicketEvent.Kind.CONTACT_MERGED,
                actor_user=actor_user,
                merged=source.email,
                into=target.email,
            )
            for ticket in tickets
        ],
    )
    transaction.on_commit(lambda: bump_list_version(target.organization_id))
    return target


def _move_collaborations(source: Contact, target: Contact) -> None:
    # A ticket where the survivor already collaborates, or now is the requester, keeps one row.
    redundant = Q(
        ticket_id__in=Collaborator.objects.filter(contact=target).values("ticket_id")
    ) | Q(ticket__requester=target)
    Collaborator.objects.filter(contact=source).filter(redundant).delete()
    Collaborator.objects.filter(contact=source).update(contact=target)
    Collaborator.objects.filter(contact=target, ticket__requester=target).delete()


def _absorb(target: Contact, source: Contact) -> None:
    """What the survivor lacks comes from the merged contact; then the merged one goes and
    its primary address becomes one of the survivor's."""
    target.name = target.name or source.name
    target.customer_id = target.customer_id or source.customer_id
    target.user_id = target.user_id or source.user_id
    target.notes = "\n\n".join(n for n in (target.notes, source.notes) if n.strip())
    target.save(update_fields=["name", "customer", "user", "notes"])
    email = source.email
    source.delete()
    ContactEmail.objects.create(organization_id=target.organization_id, contact=target, email=email)
