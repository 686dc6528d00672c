"""A ticket's mail history: threading headers (RFC 5322 3.6.4, and Outlook's) and
automatic-mail counts.

References lists the thread's Message-IDs oldest first: the customer's messages (the Message-IDs
their comments arrived with) and the ones we sent to the same recipient on the ticket. Long
threads are trimmed the way RFC 5537 section 3.4.4 advises for netnews and mail clients do:
keep the first id (the thread root, which clients such as Thunderbird and Gmail group by) and
the most recent ones, so the header stays well under the 998-octet line limit once folded.

Outlook groups a conversation by Thread-Index instead ([MS-OXOMSG] 2.2.1.3): base64 of a
22-byte header block, the same on every message of the conversation, and a 5-byte child block
per reply. Ours is stable per ticket and signed (tickets.mail_tokens), so a reply that keeps
it and drops In-Reply-To still finds its ticket; each message adds a child block per earlier
message of the thread and one of its own. Thread-Topic is the ticket's subject.

Loaded once per event (two queries), whatever the number of recipients.
"""

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from outbound_mail.models import OutgoingMessage
from tickets import mail_tokens
from tickets.models import Comment, Ticket

MAX_REFERENCES = 20


# Child blocks after the header block: Thread-Index stays a short single line.
MAX_CHILD_BLOCKS = 20
# Outlook's topic has no reply or forward prefix (its PidTagConversationTopic).
_TOPIC_PREFIX_RE = re.compile(r"^(?:\s*(?:re|aw|sv|fwd?|wg|tr|rv)\s*:)+\s*", re.I)


@dataclass(frozen=True)
class ThreadIds:
    in_reply_to: str
    references: list[str]
    thread_index: bytes = b""
    thread_topic: str = ""

    def headers(self) -> dict[str, str]:
        found: dict[str, str] = {}
        if self.references:
            found["In-Reply-To"] = f"<{self.in_reply_to}>"
            found["References"] = " ".join(f"<{i}>" for i in self.references)
        if self.thread_index:
            found["Thread-Index"] = base64.b64encode(self.thread_index).decode("ascii")
        if self.thread_topic:
            found["Thread-Topic"] = self.thread_topic
        return found


@dataclass(frozen=True)
class Conversation:
    """The ticket's Outlook conversation: its header block and its topic."""

    header: bytes
    topic: str
    started: int = field(default=0)  # the header block's time, as a FILETIME

    @classmethod
    def of(cls, organization_id: int, ticket_id: int, subject: str, created_at: datetime):
        header = mail_tokens.make_conversation_header(organization_id, ticket_id, created_at)
        topic = " ".join(_TOPIC_PREFIX_RE.sub("", subject or "").split())[:255]
        return cls(header, topic, int.from_bytes(header[1:6], "big") << 24)

    def index(self, moments: list[tuple[datetime, str]], now: datetime) -> bytes:
        """The header block, a child block per earlier message (time, id), one for now."""
        earlier = moments[: MAX_CHILD_BLOCKS - 1]
        blocks = [self._child(at, message_id, n) for n, (at, message_id) in enumerate(earlier)]
        return self.header + b"".join(blocks) + self._child(now, "", len(earlier))

    def _child(self, moment: datetime, message_id: str, position: int) -> bytes:
        # [MS-OXOMSG] 2.2.1.3: TimeFlag (1 bit), TimeDelta (31 bits), Random (4), Sequence (4).
        delta = max(0, mail_tokens.filetime(moment) - self.started)
        flag, value = (0, delta >> 18) if delta < 1 << 49 else (1, delta >> 23)
        random = hashlib.sha256(f"{message_id}:{position}".encode()).digest()[0] >> 4
        head = (flag << 31) | (value & 0x7FFF_FFFF)
        return head.to_bytes(4, "big") + bytes([(random << 4) | (position & 0xF)])


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

    def __init__(self, ticket_id: int, *, ticket: Ticket | None = None):
        """`ticket` when the caller has it already (its subject and creation give the
        Outlook conversation); otherwise it is read."""
        if ticket is None:
            ticket = Ticket.objects.get(pk=ticket_id)
        self.conversation = Conversation.of(
            ticket.organization_id, ticket.pk, ticket.subject, ticket.created_at
        )
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
        thread = sorted(self.customer + ours)
        merged = list(dict.fromkeys(i for _, i in thread if i))
        latest = self.customer or ours
        return ThreadIds(
            in_reply_to=latest[-1][1] if latest else "",
            references=trim(merged),
            thread_index=self.conversation.index(thread, timezone.now()),
            thread_topic=self.conversation.topic,
        )

    def automatic_since(self, address: str, since: datetime) -> int:
        return sum(
            1 for s in self.sent if s.address == address and s.automatic and s.created_at >= since
        )
