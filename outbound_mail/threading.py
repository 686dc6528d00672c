"""A ticket's mail history: threading headers (RFC 5322 3.6.4) and automatic-mail counts.

References lists the thread's Message-IDs oldest first: the customer's messages (the Message-IDs
their comments arrived with) and the ones we sent to the same recipient on the ticket. Long
threads are trimmed the way RFC 5537 section 3.4.4 advises for netnews and mail clients do:
keep the first id (the thread root, which clients such as Thunderbird and Gmail group by) and
the most recent ones, so the header stays well under the 998-octet line limit once folded.

Loaded once per event (two queries), whatever the number of recipients.
"""

from dataclasses import dataclass
from datetime import datetime

from outbound_mail.models import OutgoingMessage
from tickets.models import Comment

MAX_REFERENCES = 20


@dataclass(frozen=True)
class ThreadIds:
    in_reply_to: str
    references: list[str]

    def headers(self) -> dict[str, str]:
        if not self.references:
            return {}
        return {
            "In-Reply-To": f"<{self.in_reply_to}>",
            "References": " ".join(f"<{i}>" for i in self.references),
        }


@dataclass(frozen=True)
class Sent:
    pk: int | None
    address: str
    created_at: datetime
    message_id: str
    automatic: bool


def trim(ids: list[str], limit: int = MAX_REFERENCES) -> list[str]:
    if len(ids) <= limit:
        return ids
    return [ids[0], *ids[-(limit - 1) :]]


class TicketHistory:
    """What the customer sent and what we sent (not withheld) on one ticket."""

    def __init__(self, ticket_id: int):
        self.customer = list(
            Comment.objects.filter(ticket_id=ticket_id, author_contact__isnull=False)
            .exclude(message_id="")
            .order_by("created_at", "id")
            .values_list("created_at", "message_id")
        )
        rows = (
            OutgoingMessage.objects.filter(ticket_id=ticket_id)
            .exclude(status=OutgoingMessage.Status.SUPPRESSED)
            .order_by("created_at", "id")
            .values_list("pk", "to_address", "created_at", "message_id", "automatic")
        )
        self.sent = [Sent(*row) for row in rows]

    def add(self, row: OutgoingMessage) -> None:
        """A message queued during this event counts for the next recipient's checks."""
        if row.status != OutgoingMessage.Status.SUPPRESSED:
            self.sent.append(
                Sent(row.pk, row.to_address, row.created_at, row.message_id, row.automatic)
            )

    def thread(self, address: str, *, exclude_id: int | None = None) -> ThreadIds:
        """In-Reply-To: the customer's latest message, or else our latest one to `address`."""
        ours = [
            (s.created_at, s.message_id)
            for s in self.sent
            if s.address == address and (exclude_id is None or s.pk != exclude_id)
        ]
        merged = list(dict.fromkeys(i for _, i in sorted(self.customer + ours) if i))
        latest = self.customer or ours
        return ThreadIds(in_reply_to=latest[-1][1] if latest else "", references=trim(merged))

    def automatic_since(self, address: str, since: datetime) -> int:
        return sum(
            1 for s in self.sent if s.address == address and s.automatic and s.created_at >= since
        )
