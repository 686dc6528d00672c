"""Timeline entries rendered as the ticket page renders them, for pushing to agents' pages.

The same template (`tickets/_entry.html`) with the context the page gives one entry (the ticket,
the apps' comment fragments and prefetches from `tickets.contributions`, the senders whose
remote images show, the waiting reply's "Sending in" time), in a fixed number of queries
however many entries: one render serves every agent watching the ticket (agents' view: internal
notes included; only agents' sockets receive them).

What the page renders per person is left out or filled per socket: Undo belongs to the reply's
own tab, and each form's CSRF field carries `CSRF_PLACEHOLDER`, which the consumer replaces with
a token for the receiving browser (live.consumers).
"""

from dataclasses import dataclass

from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.utils import timezone

from tickets import contributions, reply_delivery
from tickets.models import Attachment, Comment, Ticket
from tickets.remote_images import allowed_senders

TEMPLATE = "tickets/_entry.html"
CSRF_PLACEHOLDER = "live-csrf-placeholder"
# How the placeholder appears in rendered HTML (Django's {% csrf_token %}).
CSRF_FIELD = f'name="csrfmiddlewaretoken" value="{CSRF_PLACEHOLDER}"'


@dataclass(frozen=True)
class RenderedComment:
    ticket: int  # the ticket's number, as the page knows it
    comment: int
    internal: bool
    html: str


def comment_by_id(comment_id: int) -> RenderedComment | None:
    """One comment of the active tenant, rendered; None when it is gone."""
    ticket_id = Comment.objects.filter(pk=comment_id).values_list("ticket_id", flat=True).first()
    if ticket_id is None:
        return None
    rendered = comments_of(ticket_id=ticket_id, ids=[comment_id])
    return rendered[0] if rendered else None


def comments_of(
    *, ticket_id: int, ids: list[int] | None = None, after: int | None = None, limit: int = 100
) -> list[RenderedComment]:
    """The ticket's comments (those `ids`, or those after the id `after`), oldest first."""
    ticket = _ticket(ticket_id)
    if ticket is None:
        return []
    comments = _comments(ticket_id)
    if ids is not None:
        comments = comments.filter(pk__in=ids)
    if after is not None:
        comments = comments.filter(pk__gt=after)
    return _render(ticket, list(comments[:limit]))


def _ticket(ticket_id: int) -> Ticket | None:
    # Every comment of the ticket, but only what the entry asks of them: the split button
    # counts them, the remote-image rule reads their senders' addresses.
    light = Comment.objects.select_related("author_contact").only(
        "id", "ticket_id", "author_contact_id", "author_contact__email"
    )
    return (
        Ticket.objects.filter(pk=ticket_id)
        .prefetch_related(Prefetch("comments", queryset=light))
        .first()
    )


def _comments(ticket_id: int):
    attachments = Attachment.objects.order_by("id")
    return (
        Comment.objects.filter(ticket_id=ticket_id)
        .select_related("author_user", "author_contact")
        .prefetch_related(
            Prefetch("attachments", queryset=attachments), *contributions.comment_prefetches()
        )
        .order_by("created_at", "id")
    )


def _render(ticket: Ticket, comments: list[Comment]) -> list[RenderedComment]:
    if not comments:
        return []
    context = {
        "ticket": ticket,
        "comment_templates": contributions.comment_templates(),
        "image_senders": allowed_senders(ticket),
        "csrf_token": CSRF_PLACEHOLDER,
    }
    times = reply_delivery.send_times(comments)
    now = timezone.now()
    rendered = []
    for comment in comments:
        _mark_waiting(comment, times.get(comment.pk), now)
        html = render_to_string(TEMPLATE, {**context, "c": comment})
        rendered.append(RenderedComment(ticket.number, comment.pk, not comment.is_public, html))
    return rendered


def _mark_waiting(comment: Comment, sends_at, now) -> None:
    """As the ticket page marks a reply whose mail has not gone out (tickets.views)."""
    comment.sends_at = sends_at  # type: ignore[attr-defined]
    minutes = max(1, round((sends_at - now).total_seconds() / 60)) if sends_at else None
    comment.sends_in = minutes  # type: ignore[attr-defined]
