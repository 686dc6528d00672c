"""Comments: public replies and internal notes with their attachments; a customer's public reply
reopens a done (or pending) ticket; an agent's reply taken back before it went out (Undo), and a
comment made public or internal."""

from collections.abc import Sequence

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from tenants.models import User
from tickets import events, hooks, reply_delivery
from tickets.models import (
    DONE_CATEGORIES,
    Collaborator,
    Comment,
    Contact,
    StatusCategory,
    Ticket,
    TicketEvent,
)
from tickets.reply_delivery import AlreadySent
from tickets.sanitize import clean_html, text_to_html
from tickets.services.attachments import Upload, _link_inline_images, attachment_store
from tickets.services.contacts import contact_get_or_create
from tickets.services.defaults import default_status
from tickets.services.lists import lists_changed
from tickets.services.status_change import _set_status
from tickets.services.timeline import _event


@transaction.atomic
def comment_create(
    *,
    ticket: Ticket,
    body_text: str,
    body_html: str = "",
    full_text: str = "",
    is_public: bool = True,
    author_user: User | None = None,
    author_contact: Contact | None = None,
    channel: str = Comment.Channel.AGENT,
    uploads: Sequence[Upload] = (),
    reopen: bool = True,
    send_now: bool = False,
    message_id: str = "",
    auto_generated: bool = False,
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    held: bool = False,
) -> Comment:
    """Add a public reply or an internal note; a customer's reply reopens a done ticket.

    `auto_generated` (an auto-reply threaded onto the ticket) never reopens and is never answered.
    An agent's public reply records its recipients; `cc` become collaborators, `bcc` do not.
    `held`: the caller holds `ticket` locked and as the database has it (it is changed in
    place, not read again; tickets.services.tickets' changes take the same).
    """
    if not held:
        ticket = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket.pk)
    now = timezone.now()
    comment = _comment_insert(
        ticket=ticket,
        body_text=body_text,
        body_html=body_html,
        full_text=full_text,
        is_public=is_public,
        author_user=author_user,
        author_contact=author_contact,
        channel=channel,
        uploads=uploads,
        created_at=now,
        message_id=message_id,
    )
    if is_public and author_user is not None:
        _address_reply(ticket, comment, list(cc), list(bcc), author_user)
    fields = _comment_ticket_fields(ticket, comment, now, auto_generated=auto_generated)
    Ticket.objects.filter(pk=ticket.pk).update(**fields)
    for name, value in fields.items():
        setattr(ticket, name, value)
    _event(
        ticket,
        TicketEvent.Kind.COMMENT,
        actor_user=author_user,
        actor_contact=author_contact,
        comment_id=comment.pk,
        public=is_public,
    )
    if _reopens(comment, reopen=reopen, auto_generated=auto_generated):
        _reopen_on_customer_reply(ticket, author_contact)
    hooks.run(hooks.COMMENTS_ADDED, comments=[(comment, auto_generated)])
    events.emit(_comment_added(comment, send_now=send_now, auto_generated=auto_generated))
    lists_changed(ticket.organization_id)
    return comment


def _address_reply(ticket: Ticket, comment: Comment, cc: list[str], bcc: list[str], user) -> None:
    """Store who the reply goes to; each Cc'd address joins the ticket as a collaborator."""
    to = [ticket.requester.email.lower()]
    cc = [a for a in cc if a not in to]
    for address in cc:
        contact = contact_get_or_create(organization=ticket.organization, email=address)
        _, created = Collaborator.objects.get_or_create(
            organization_id=ticket.organization_id, ticket=ticket, contact=contact
        )
        if created:
            _event(ticket, TicketEvent.Kind.COLLABORATOR, actor_user=user, added=address)
    collaborators = ticket.collaborators.order_by("id").values_list("email", flat=True)
    cc = list(dict.fromkeys([*cc, *(e.lower() for e in collaborators if e.lower() not in to)]))
    comment.recipients = {"to": to, "cc": cc, "bcc": [a for a in bcc if a not in to + cc]}
    comment.save(update_fields=["recipients"])


def _comment_insert(*, ticket: Ticket, uploads: Sequence[Upload], **fields) -> Comment:
    """Save a comment (`fields` as _comment_row takes them) with its attachments."""
    comment = _comment_row(ticket=ticket, **fields)
    comment.save()
    stored = [attachment_store(ticket=ticket, comment=comment, upload=upload) for upload in uploads]
    if _link_inline_images(comment, ticket, stored):
        comment.save(update_fields=["body_html"])
    return comment


def _comment_row(
    *,
    ticket,
    body_text,
    is_public,
    author_user,
    author_contact,
    channel,
    created_at,
    body_html="",
    full_text="",
    message_id="",
) -> Comment:
    return Comment(
        organization_id=ticket.organization_id,
        ticket=ticket,
        is_public=is_public,
        author_user=author_user,
        author_contact=author_contact,
        channel=channel,
        body_text=body_text or "",
        body_html=clean_html(body_html) if body_html else text_to_html(body_text),
        full_text=full_text or "",
        message_id=message_id[:255],
        created_at=created_at,
    )


def _comment_ticket_fields(ticket: Ticket, comment: Comment, now, *, auto_generated=False) -> dict:
    """What a new comment changes on its ticket."""
    fields = {"last_activity_at": now, "updated_at": now}
    if comment.is_public:
        fields["last_message_preview"] = _preview(comment.body_text)
    if comment.is_public and comment.author_user_id and ticket.first_response_at is None:
        fields["first_response_at"] = now
    fields.update(_message_clocks(comment, now, auto_generated=auto_generated))
    return fields


def _message_clocks(comment: Comment, now, *, auto_generated=False) -> dict:
    """The clocks of "hours since the last customer message / agent reply" automations: a
    public comment by an agent, or by a contact (an auto-reply is not the customer writing)."""
    if not comment.is_public:
        return {}
    if comment.author_user_id:
        return {"last_agent_reply_at": now}
    if comment.author_contact_id and not auto_generated:
        return {"last_customer_message_at": now}
    return {}


def _preview(text: str) -> str:
    for line in (text or "").splitlines():
        line = line.strip()
        if line and not line.startswith(">"):
            return line[:200]
    return ""


def _reopens(comment: Comment, *, reopen: bool, auto_generated: bool) -> bool:
    """A customer's public reply reopens a done (or pending) ticket; an auto-reply never does."""
    by_contact = comment.author_contact_id and not comment.author_user_id
    return bool(by_contact and comment.is_public and reopen and not auto_generated)


def _reopen_on_customer_reply(ticket: Ticket, contact: Contact | None) -> None:
    if ticket.status_category in (*DONE_CATEGORIES, StatusCategory.PENDING):
        _set_status(ticket, default_status(StatusCategory.OPEN), actor_contact=contact)


def _comment_added(comment: Comment, *, send_now: bool, auto_generated: bool):
    return events.DomainEvent(
        events.COMMENT_ADDED,
        comment.organization_id,
        comment.ticket_id,
        comment.author_user_id,
        {
            "comment_id": comment.pk,
            "public": comment.is_public,
            "send_now": send_now,
            "by_contact": bool(comment.author_contact_id and not comment.author_user_id),
            "auto_generated": auto_generated,
        },
    )


class CommentNotChangeable(Exception):
    """The change does not apply to this comment (its message says why, for the agent)."""


@transaction.atomic
def comment_withdraw(*, comment: Comment, actor_user: User) -> str:
    """Take an agent's public reply back before its mail goes out (Undo): its waiting mail is
    cancelled, the comment removed, the timeline says so; returns its text for the reply box.

    Raises CommentNotChangeable for anything but the actor's own public reply, and
    CommentNotChangeable too (from AlreadySent) once any of its mail went out.
    """
    ticket = Ticket.objects.select_for_update(of=("self",)).get(pk=comment.ticket_id)
    if not comment.is_public or comment.author_user_id != actor_user.pk:
        raise CommentNotChangeable("Only your own public reply can be undone.")
    _withdraw_mail(comment)
    _event(ticket, TicketEvent.Kind.WITHDRAWN, actor_user=actor_user, comment_id=comment.pk)
    text = comment.body_text
    _after_removal(ticket, comment)
    comment.delete()
    lists_changed(ticket.organization_id)
    return text


@transaction.atomic
def comment_set_public(*, comment: Comment, public: bool, actor_user: User) -> Comment:
    """Make an internal note public (it then reaches the customer like a reply, through the
    debounce) or a public reply internal (only while none of its mail went out)."""
    ticket = Ticket.objects.select_for_update(of=("self",)).get(pk=comment.ticket_id)
    if comment.is_public == public:
        return comment
    if comment.author_user_id is None:
        raise CommentNotChangeable("Only agents' replies and notes can change visibility.")
    if not public:
        _withdraw_mail(comment)
    comment.is_public = public
    fields = ["is_public"]
    if public and comment.held_reason:
        # A reply the send guard held, sent now (tickets.services.send_guard): a reply like any.
        comment.held_reason, comment.held_after = "", None
        fields += ["held_reason", "held_after"]
    comment.save(update_fields=fields)
    _event(
        ticket,
        TicketEvent.Kind.VISIBILITY,
        actor_user=actor_user,
        comment_id=comment.pk,
        to="public" if public else "internal",
    )
    if public:
        # The note reaches the customer now: an agent's reply from here on.
        Ticket.objects.filter(pk=ticket.pk).update(last_agent_reply_at=timezone.now())
        events.emit(_comment_added(comment, send_now=False, auto_generated=False))
    else:
        _after_removal(ticket, comment)
    lists_changed(ticket.organization_id)
    return comment


def _withdraw_mail(comment: Comment) -> None:
    try:
        reply_delivery.withdraw(comment)
    except AlreadySent:
        raise CommentNotChangeable(
            "Too late to take it back: the reply has already gone out to the customer."
        ) from None


def _after_removal(ticket: Ticket, removed: Comment) -> None:
    """The first response, the last agent reply and the list's preview follow the public
    replies that are left."""
    public = ticket.comments.filter(is_public=True).exclude(pk=removed.pk)
    fields: dict = {}
    if ticket.last_agent_reply_at is not None and removed.author_user_id:
        last_reply = public.filter(author_user__isnull=False).aggregate(at=Max("created_at"))
        fields["last_agent_reply_at"] = last_reply["at"]
    if ticket.first_response_at is not None and ticket.first_response_at == removed.created_at:
        later = public.filter(author_user__isnull=False, created_at__gte=removed.created_at)
        first = later.order_by("created_at", "id").first()
        fields["first_response_at"] = first.created_at if first else None
    last = public.order_by("-created_at", "-id").first()
    fields["last_message_preview"] = _preview(last.body_text) if last else ""
    Ticket.objects.filter(pk=ticket.pk).update(**fields)
