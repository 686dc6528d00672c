"""Which entry of its ticket an agent's reply by mail answers, for the send guard
(tickets.services.send_guard): the newest one its In-Reply-To and References name.

A Message-ID names an entry when it is one a comment arrived with (Comment.message_id: the
customer's mail, an agent's earlier mail), or one of ours: mail we sent shows its reader the
ticket as it was when we wrote it, its newest public comment then, or the newest comment it
carried if later (a waiting update that folded in another reply). Ids of other tickets, and
ids nobody knows, name nothing; a reply that names nothing is not checked.
"""

from inbound_mail.parsing import ParsedMessage
from inbound_mail.threading import thread_ids
from tickets.models import Comment, Ticket


def answered_entry(ticket: Ticket, parsed: ParsedMessage) -> int | None:
    """The id of the newest entry of `ticket` that the message answers, or None. Three
    queries at most, however many ids the message lists."""
    ids = [i for i in (_bare(i) for i in thread_ids(parsed)) if i]
    if not ids:
        return None
    comments = Comment.objects.filter(ticket_id=ticket.pk, message_id__in=ids)
    named = list(comments.values_list("pk", flat=True))
    sent = _sent_entries(ticket.pk, ids)
    named += [carried for _, carried in sent if carried is not None]
    if sent:
        # The newest public comment when we wrote the latest of them is what its reader saw.
        written = max(at for at, _ in sent)
        seen = Comment.objects.filter(ticket_id=ticket.pk, is_public=True, created_at__lte=written)
        named += list(seen.order_by("-pk").values_list("pk", flat=True)[:1])
    return max(named, default=None)


def _bare(message_id: str) -> str:
    """As Comment.message_id and OutgoingMessage.message_id keep it: no angle brackets."""
    return (message_id or "").strip().strip("<>").strip()[:255]


def _sent_entries(ticket_id: int, ids: list[str]) -> list:
    try:
        from outbound_mail.selectors import sent_entries
    except ImportError:  # the outbound app is not installed: we sent nothing
        return []
    return sent_entries(ticket_id, ids)
