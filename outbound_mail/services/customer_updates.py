"""Customer updates: replies and status changes fold into one waiting message per recipient,
re-rendered whole each time, until the tenant's debounce delay has passed."""

from dataclasses import dataclass
from datetime import timedelta

from outbound_mail import placeholders
from outbound_mail.kinds import Kind
from outbound_mail.models import OutgoingMessage
from outbound_mail.services import outbox
from outbound_mail.services.outbox import EventContext, Recipient
from tickets.models import StatusCategory, Ticket

Status = OutgoingMessage.Status


def customer_update(ctx, recipients: list[Recipient], change: dict, *, send_now: bool) -> None:
    """Fold the change into the recipient's waiting update, or start one (STYLE: debounce)."""
    delay = ctx.settings.debounce_seconds
    send_after = ctx.now if send_now or not delay else ctx.now + timedelta(seconds=delay)
    for recipient in recipients:
        waiting = _waiting_update(ctx.ticket, recipient.address) if delay else None
        if waiting is not None:
            _refold(ctx, waiting, recipient, change, send_after)
            continue
        update = _update_message(ctx, [change])
        if ctx.enabled(update.kind):
            _queue_update(ctx, recipient, update, send_after)


def _waiting_update(ticket: Ticket, address: str) -> OutgoingMessage | None:
    return (
        OutgoingMessage.objects.select_for_update()
        .filter(ticket=ticket, to_address=address, foldable=True, status=Status.PENDING)
        .order_by("-id")
        .first()
    )


@dataclass(frozen=True)
class UpdateMessage:
    kind: str
    changes: list[dict]
    values: dict
    comment_ids: list[int]
    attachment_ids: list[int]
    # To and Cc as the latest reply names them, the same in every recipient's copy (each copy
    # is still sent to its one recipient; a Bcc'd address appears in none).
    addressed: dict[str, str]


def _update_message(ctx: EventContext, changes: list[dict]) -> UpdateMessage:
    """What a customer update says: every reply and status change in it, oldest first."""
    reply_ids = [c["comment_id"] for c in changes if c["type"] == "reply"]
    comments = ctx.comments(reply_ids)
    updates = [
        placeholders.reply_update(comments[c["comment_id"]])
        if c["type"] == "reply"
        else placeholders.status_update(c)
        for c in changes
        if c["type"] != "reply" or c["comment_id"] in comments
    ]
    agent = comments[reply_ids[-1]].author_name if reply_ids and reply_ids[-1] in comments else ""
    return UpdateMessage(
        kind=_update_kind(changes),
        changes=changes,
        values={**ctx.ticket_values, **placeholders.updates_values(updates, changes, agent)},
        comment_ids=[i for i in reply_ids if i in comments],
        attachment_ids=ctx.attachment_ids(reply_ids) if reply_ids else [],
        addressed=_addressed([comments[i] for i in reply_ids if i in comments]),
    )


def _addressed(replies) -> dict[str, str]:
    """The To and Cc headers of an update whose latest reply has Cc or Bcc addresses."""
    recipients = (replies[-1].recipients if replies else None) or {}
    if not (recipients.get("cc") or recipients.get("bcc")):
        return {}
    cc = {"Cc": ", ".join(recipients["cc"])} if recipients.get("cc") else {}
    return {"To": ", ".join(recipients.get("to", [])), **cc}


def _update_kind(changes: list[dict]) -> str:
    if any(c["type"] == "reply" for c in changes):
        return Kind.AGENT_REPLY
    last = [c for c in changes if c["type"] == "status"][-1]
    resolved = last.get("to_category") == StatusCategory.RESOLVED
    return Kind.TICKET_RESOLVED if resolved else Kind.STATUS_CHANGED


def _queue_update(ctx, recipient: Recipient, update: UpdateMessage, send_after) -> None:
    outbox.queue(
        ctx,
        update.kind,
        recipient,
        update.values,
        automatic=update.kind != Kind.AGENT_REPLY,
        changes=update.changes,
        comment_ids=update.comment_ids,
        attachment_ids=update.attachment_ids,
        send_after=send_after,
        extra_headers=update.addressed,
    )


def _refold(ctx, row: OutgoingMessage, recipient: Recipient, change: dict, send_after) -> None:
    """Add a change to a waiting update: re-rendered whole, and the wait starts again."""
    update = _rerender(ctx, row, [*row.changes, change], recipient.name)
    row.send_after = send_after
    if not ctx.enabled(update.kind):
        row.status = Status.SUPPRESSED
        row.last_error = f"Not sent: “{Kind(update.kind).label}” mail is switched off."
    elif declined := outbox.declined_by_contact(update.kind, recipient):
        # The contact chose no reply mail while this update waited (the portal's profile).
        row.status = Status.SUPPRESSED
        row.last_error = declined
    due = row.status == Status.PENDING and send_after <= ctx.now
    if due and ctx.claim:
        outbox.claim_for_caller(ctx, row)  # the row is locked (_waiting_update): no one else has it
    row.save(update_fields=REFOLD_FIELDS)
    outbox.link_comments(row, update.comment_ids)
    if due:
        ctx.due_now.append(row.pk)


def _rerender(ctx, row: OutgoingMessage, changes: list[dict], name: str) -> UpdateMessage:
    """Render a waiting update anew (in memory) from these changes."""
    update = _update_message(ctx, changes)
    automatic = update.kind != Kind.AGENT_REPLY
    rendered = outbox.render(ctx, update.kind, {**update.values, "recipient_name": name})
    row.kind, row.automatic, row.changes = update.kind, automatic, update.changes
    row.subject, row.body_text, row.body_html = (
        rendered.subject,
        rendered.body_text,
        rendered.body_html,
    )
    row.headers = {
        **outbox.headers(ctx, update.kind, row.to_address, automatic, exclude_id=row.pk),
        **update.addressed,
    }
    row.attachment_ids, row.updated_at = update.attachment_ids, ctx.now
    return update


def customer_update_withdraw(ctx, row: OutgoingMessage, comment_id: int) -> bool:
    """Take a withdrawn reply out of a waiting update: cancelled when nothing else is in it,
    otherwise re-rendered with what is left (a status change still goes out, when it was due).
    False when the row is no longer waiting (a sender claimed it first)."""

    def others(c: dict) -> bool:
        return not (c.get("type") == "reply" and c.get("comment_id") == comment_id)

    changes = [c for c in row.changes if others(c)]
    waiting = OutgoingMessage.objects.filter(pk=row.pk, status=Status.PENDING)
    if not changes or not any(c.get("type") in ("reply", "status") for c in changes):
        cancelled = "Not sent: the agent took the reply back before it went out."
        return bool(
            waiting.update(status=Status.CANCELLED, last_error=cancelled, updated_at=ctx.now)
        )
    _rerender(ctx, row, changes, row.to_name)
    return bool(waiting.update(**{f: getattr(row, f) for f in RERENDER_FIELDS}))


# What _rerender changes on the row.
RERENDER_FIELDS = [
    "kind",
    "automatic",
    "changes",
    "subject",
    "body_text",
    "body_html",
    "headers",
    "attachment_ids",
    "updated_at",
]

# What _refold changes: the re-render, the new wait, and the send state it may suppress or claim.
REFOLD_FIELDS = [
    *RERENDER_FIELDS,
    "send_after",
    "status",
    "last_error",
    "claim_token",
    "claimed_at",
    "attempts",
    "first_attempt_at",
]
