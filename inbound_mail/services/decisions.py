"""Deciding what a received message is and where it goes, before anything is written: the
rules (`decide`), what they read (`Reads`), and what they conclude (`Decision`, `Context`,
`Outcome`). The batch (batch.py) answers the same reads for many messages at once.
"""

from dataclasses import dataclass
from functools import cached_property

from inbound_mail import classify, raw_mail, routing, selectors, staff_proof
from inbound_mail.models import InboundMessage, SpamRule
from inbound_mail.parsing import ParsedMessage
from inbound_mail.threading import Lookup, Sender, ThreadMatch, find_ticket
from tenants.models import Membership, Organization
from tickets.models import Comment, Ticket

Status = InboundMessage.Status


@dataclass
class Outcome:
    status: str
    reason: str = ""
    ticket: Ticket | None = None
    comment: Comment | None = None


class Reads:
    """What deciding about a message reads, straight from the database in the active tenant.
    The batch (batch.py) answers the same questions for many messages from a few queries."""

    lookup: Lookup

    def __init__(self):
        self.lookup = Lookup()

    def duplicate_of(self, row: InboundMessage) -> InboundMessage | None:
        """The same Message-ID already handled here (delivered twice, or to two addresses)."""
        if not row.message_id:
            return None  # identical bytes without a Message-ID are caught at intake (sha256)
        return (
            InboundMessage.objects.filter(message_id=row.message_id, status__in=HANDLED)
            .exclude(pk=row.pk)
            .order_by("pk")
            .first()
        )

    def spam_rule_for(self, address: str) -> SpamRule | None:
        return selectors.spam_rule_for(address)

    def staff(self, address: str) -> Membership | None:
        return selectors.staff_membership(address)


HANDLED = (Status.PROCESSED, Status.IGNORED)


@dataclass
class Decision:
    """What a message is and where it goes, worked out before anything is written: settled
    (`outcome`: ignored or quarantined), a bounce, or a message to apply (`context`)."""

    outcome: Outcome | None = None
    bounce: bool = False
    context: "Context | None" = None


def decide(row: InboundMessage, parsed: ParsedMessage, reads: Reads) -> Decision:
    duplicate = reads.duplicate_of(row)
    if duplicate is not None:
        reason = f"duplicate of message {duplicate.pk} (same Message-ID)"
        return Decision(Outcome(Status.IGNORED, reason, ticket=duplicate.ticket))
    verdict = classify.classify(parsed, spam_rule_for=reads.spam_rule_for)
    if verdict.kind in (classify.LOOP, classify.SPAM):
        return Decision(Outcome(Status.IGNORED, verdict.reason))
    if verdict.kind == classify.NO_SENDER:
        return Decision(Outcome(Status.QUARANTINED, verdict.reason))
    if verdict.kind == classify.BOUNCE:
        return Decision(bounce=True)
    ctx = _context(row, parsed, verdict.reason, reads)
    if ctx.match.ticket is None and ctx.auto_reason:
        return Decision(Outcome(Status.IGNORED, f"{ctx.auto_reason}; no ticket to file it on"))
    return Decision(context=ctx)


@dataclass(frozen=True)
class Context:
    """Who wrote a message and where it threads, worked out once per message."""

    row: InboundMessage
    parsed: ParsedMessage
    sender: Sender
    staff: Membership | None
    match: ThreadMatch
    auto_reason: str

    @property
    def organization(self) -> Organization:
        return self.row.organization

    @cached_property
    def staff_proof(self) -> str:
        """How the staff member named in From: is proven to have sent it ("token", "dmarc",
        "dkim"; inbound_mail.staff_proof), or "". Worked out when first asked: only on the
        single-message path that staff mail takes, since DKIM may look up DNS."""
        if self.staff is None:
            return ""
        return staff_proof.proof_of(
            raw=raw_mail.read(self.row.sha256),
            parsed=self.parsed,
            address=self.sender.address,
            user_id=self.staff.user_id,
            organization_id=self.row.organization_id,
            ticket_id=self.match.ticket.pk if self.match.ticket is not None else None,
            recipients=recipients_of(self.row, self.parsed),
            trusted_hosts=selectors.trusted_authserv_ids(),
        )

    @property
    def unverified_staff(self) -> bool:
        """From: names staff, but nothing proves they sent it: no staff privileges."""
        return self.staff is not None and not self.staff_proof


def _context(row: InboundMessage, parsed: ParsedMessage, auto_reason: str, reads: Reads):
    address = classify.sender_address(parsed)
    staff = reads.staff(address)
    sender = Sender(address=address, is_staff=staff is not None)
    match = find_ticket(
        parsed,
        organization_id=row.organization_id,
        sender=sender,
        recipients=recipients_of(row, parsed),
        lookup=reads.lookup,
    )
    return Context(row, parsed, sender, staff, match, auto_reason)


def recipients_of(row: InboundMessage, parsed: ParsedMessage) -> list[str]:
    return [*row.envelope_recipients, *routing.header_recipients(parsed)]
