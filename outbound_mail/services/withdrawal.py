"""Taking an agent's reply back before its mail goes out (tickets.reply_delivery): when each
waiting reply will be sent, and cancelling (or refolding without it) the mail that carries it."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.utils import timezone

from outbound_mail import selectors
from outbound_mail.models import OutgoingMessage, OutgoingMessageComment
from outbound_mail.services.customer_updates import customer_update_withdraw
from outbound_mail.services.outbox import EventContext
from tenants.models import Organization
from tickets.models import Comment, Ticket
from tickets.reply_delivery import AlreadySent, ReplyDelivery

Status = OutgoingMessage.Status
# A message in these states went out, or is going out right now: too late to take back.
GONE = (Status.SENDING, Status.SENT, Status.DELIVERED, Status.FAILED, Status.BOUNCED)
# The `notify` task queues a reply's mail right after the reply commits; until it has, the
# reply is taken to wait out the tenant's debounce (it makes the task a no-op when withdrawn).
NOT_QUEUED_YET = timedelta(seconds=60)


def reply_send_times(comments: Sequence[Comment]) -> dict[int, datetime]:
    """When each agent's public reply that has not gone out yet will; one query for the
    settings, and one per comment unless its `outgoing_links` are prefetched (the ticket page)."""
    debounce = selectors.mail_settings().debounce_seconds
    now = timezone.now()
    times: dict[int, datetime] = {}
    for comment in comments:
        if not (comment.is_public and comment.author_user_id):
            continue
        messages = [link.message for link in comment.outgoing_links.all()]
        waiting = [m.send_after for m in messages if m.status == Status.PENDING]
        if any(m.status in GONE for m in messages):
            continue
        if waiting:
            times[comment.pk] = min(waiting)
        elif not messages and debounce and now - comment.created_at < NOT_QUEUED_YET:
            times[comment.pk] = comment.created_at + timedelta(seconds=debounce)
    return times


def reply_withdraw(comment: Comment) -> None:
    """Cancel the comment's waiting mail, every recipient's, or raise AlreadySent.

    Runs in the caller's transaction with the ticket locked, as `notify_event` locks it: a
    reply whose mail is not queued yet is queued after this (and finds nothing to send) or
    before (and is cancelled here). A sender claims only `pending` rows, and each row is
    changed here only while it is still `pending`, so one of the two wins, never both.
    """
    ids = OutgoingMessageComment.objects.filter(comment=comment).values_list("message_id")
    rows = list(OutgoingMessage.objects.select_for_update().filter(pk__in=ids).order_by("id"))
    if any(row.status in GONE for row in rows):
        raise AlreadySent
    waiting = [row for row in rows if row.status == Status.PENDING]
    if not waiting:
        return
    ctx = _context(comment)
    for row in waiting:
        if not customer_update_withdraw(ctx, row, comment.pk):
            raise AlreadySent


def _context(comment: Comment) -> EventContext:
    related = ("status", "priority", "assignee", "team", "requester")
    ticket = Ticket.objects.select_related(*related).get(pk=comment.ticket_id)
    organization = Organization.objects.get(pk=comment.organization_id)
    return EventContext(organization, ticket, None, {}, timezone.now())


PROVIDER = ReplyDelivery(send_times=reply_send_times, withdraw=reply_withdraw)
