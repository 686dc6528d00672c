"""Comments: public replies and internal notes with their attachments; a customer's public reply
reopens a done (or pending) ticket."""

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from tenants.models import User
from tickets import events
from tickets.models import DONE_CATEGORIES, Comment, Contact, StatusCategory, Ticket, TicketEvent
from tickets.sanitize import clean_html, text_to_html
from tickets.selectors import bump_list_version
from tickets.services.attachments import Upload, _link_inline_images, attachment_store
from tickets.services.defaults import default_status
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
) -> Comment:
    """Add a public reply or an internal note; a customer's reply reopens a done ticket.

    `auto_generated` (an auto-reply threaded onto the ticket) never reopens and is never answered.
    """
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
    fields = _comment_ticket_fields(ticket, comment, now)
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
    events.emit(_comment_added(comment, send_now=send_now, auto_generated=auto_generated))
    transaction.on_commit(lambda: bump_list_version(ticket.organization_id))
    return comment


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


def _comment_ticket_fields(ticket: Ticket, comment: Comment, now) -> dict:
    """What a new comment changes on its ticket."""
    fields = {"last_activity_at": now, "updated_at": now}
    if comment.is_public:
        fields["last_message_preview"] = _preview(comment.body_text)
    if comment.is_public and comment.author_user_id and ticket.first_response_at is None:
        fields["first_response_at"] = now
    return fields


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
