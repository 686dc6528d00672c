"""Which ticket a message belongs to, by five rules in a fixed order (first match wins):

1. a signed reply token: in our own Message-IDs quoted in In-Reply-To/References, or in the
   plus part of a recipient (support+<token>@). A token-shaped string that fails its HMAC is a
   forgery: ignored and logged.
2. a Message-ID the tenant already knows (mail it received, ids that mail referred to, comments,
   mail it sent) in In-Reply-To and References, newest first; then the message's own id, when
   a reply to it arrived first.
3. the `[#number]` subject tag, only from the requester, a collaborator or staff of the tenant:
   ticket numbers are guessable, and a stranger must not be able to write into a ticket.
4. Outlook's conversation: the 22-byte header block of Thread-Index ([MS-OXOMSG] 2.2.1.3),
   kept on every reply and forward of the conversation, also when In-Reply-To is dropped. Our
   own mail's block is signed (tickets.mail_tokens) and names its ticket; a block that arrived
   on a ticket (ConversationIndex) counts from the requester, a collaborator or staff.
5. a reply-prefixed subject ("Re:", "AW:", "回复:" ...) from the requester or a collaborator
   of an open ticket with the same normalized subject, active within 14 days (clients that
   drop In-Reply-To); and the original of such a reply when the reply was processed first
   (its ticket's subject still carries the prefix). A forward ("Fwd:", "WG:", "TR:" ...)
   is someone passing on something new: the subject never joins it to a ticket. An Outlook
   reply (a Thread-Index with child blocks) whose Thread-Topic is the ticket's subject counts
   as a reply, for gateways that rewrite the Subject.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from inbound_mail import subjects
from inbound_mail.models import ConversationIndex, ThreadReference
from inbound_mail.parsing import ParsedMessage
from inbound_mail.routing import split_plus
from tickets import mail_tokens
from tickets.models import UNRESOLVED_CATEGORIES, Collaborator, Comment, Ticket

logger = logging.getLogger(__name__)

SUBJECT_WINDOW = timedelta(days=14)
# References can be long (mailing lists); the newest ancestors and the root are what matter.
MAX_IDS = 60
# Rule 5 compares the subject with this many of the sender's latest open tickets.
RECENT_LIMIT = 50


@dataclass(frozen=True)
class ThreadMatch:
    ticket: Ticket | None
    # "token", "message_id", "tag", "thread_index", "subject" or "" for a new thread
    rule: str = ""
    forged: bool = False


@dataclass(frozen=True)
class Sender:
    address: str
    is_staff: bool


def thread_ids(parsed: ParsedMessage) -> list[str]:
    """In-Reply-To, then References newest first (RFC 5322 3.6.4 lists them oldest first)."""
    ids = [*parsed.in_reply_to, *reversed(parsed.references)]
    unique = list(dict.fromkeys(i for i in ids if i and i != parsed.message_id))
    return unique[:MAX_IDS]


class Lookup:
    """What the rules read, straight from the database (one query per question, in the active
    tenant). `inbound_mail.batch` answers the same questions for many messages from a few
    queries; the rules themselves are the same code either way."""

    def ticket(self, pk: int) -> Ticket | None:
        return Ticket.objects.filter(pk=pk).first()

    def thread_references(self, ids: list[str]) -> dict[str, int]:
        """Message-ID -> ticket id, for the ids the tenant knows."""
        rows = ThreadReference.objects.filter(message_id__in=ids)
        return dict(rows.values_list("message_id", "ticket_id"))

    def comment_message_ids(self, ids: list[str]) -> dict[str, int]:
        """Comments that arrived before ThreadReference existed, or came in another way."""
        rows = Comment.objects.filter(message_id__in=ids)
        return dict(rows.values_list("message_id", "ticket_id"))

    def sent_ticket_id(self, ids: list[str]) -> int | None:
        """The ticket of mail the outbound side sent with one of these ids (its own table)."""
        try:
            from outbound_mail.selectors import ticket_id_for_message_ids
        except ImportError:  # the outbound app is not installed: nothing was sent by it
            return None
        return ticket_id_for_message_ids(ids)

    def ticket_by_number(self, number: int) -> Ticket | None:
        return Ticket.objects.filter(number=number).select_related("requester").first()

    def is_collaborator(self, ticket: Ticket, address: str) -> bool:
        return Collaborator.objects.filter(ticket=ticket, contact__email=address).exists()

    def conversation_tickets(self, keys: list[str]) -> dict[str, int]:
        """Conversation header block (hex) -> ticket id, for the blocks the tenant stored."""
        rows = ConversationIndex.objects.filter(key__in=keys)
        return dict(rows.values_list("key", "ticket_id"))

    def recent_open(self, address: str) -> list[Ticket]:
        """The sender's unresolved tickets (as requester or collaborator) active within the
        window, latest first. One query; `recent_open_for` answers for many addresses."""
        collaborating = Collaborator.objects.filter(contact__email=address).values("ticket_id")
        return list(
            Ticket.objects.filter(
                Q(requester__email=address) | Q(pk__in=collaborating),
                status_category__in=UNRESOLVED_CATEGORIES,
                last_activity_at__gte=timezone.now() - SUBJECT_WINDOW,
            ).order_by("-last_activity_at", "-id")[:RECENT_LIMIT]
        )


def recent_open_for(addresses: set[str]) -> dict[str, list[Ticket]]:
    """Per address, its unresolved tickets active within the window, as requester or as
    collaborator (someone Cc'd on the ticket), latest first: two queries for any number."""
    since = timezone.now() - SUBJECT_WINDOW
    open_recently = {"status_category__in": UNRESOLVED_CATEGORIES, "last_activity_at__gte": since}
    collaborating: dict[int, set[str]] = {}
    pairs = Collaborator.objects.filter(
        contact__email__in=addresses, **{f"ticket__{k}": v for k, v in open_recently.items()}
    ).values_list("ticket_id", "contact__email")
    for ticket_id, email in pairs.order_by():
        collaborating.setdefault(ticket_id, set()).add(email)
    rows = Ticket.objects.filter(
        Q(requester__email__in=addresses) | Q(pk__in=collaborating), **open_recently
    ).select_related("requester")
    found: dict[str, list[Ticket]] = {}
    for ticket in rows.order_by("-last_activity_at", "-id"):
        for address in {ticket.requester.email, *collaborating.get(ticket.pk, ())} & addresses:
            latest = found.setdefault(address, [])
            if len(latest) < RECENT_LIMIT:
                latest.append(ticket)
    return found


def find_ticket(
    parsed: ParsedMessage,
    *,
    organization_id: int,
    sender: Sender,
    recipients: Iterable[str],
    lookup: Lookup | None = None,
) -> ThreadMatch:
    lookup = lookup or Lookup()
    ids = thread_ids(parsed)
    ticket, forged = _by_token(ids, list(recipients), organization_id, lookup)
    if ticket is not None:
        return ThreadMatch(_survivor(ticket, lookup), "token", forged)
    for rule, finder in (
        ("message_id", lambda: _by_known_id(ids, parsed.message_id, lookup)),
        ("tag", lambda: _by_tag(parsed.subject, sender, lookup)),
        ("thread_index", lambda: _by_conversation(parsed, organization_id, sender, lookup)),
        ("subject", lambda: _by_subject(parsed, sender, lookup)),
    ):
        ticket = finder()
        if ticket is not None:
            return ThreadMatch(_survivor(ticket, lookup), rule, forged)
    return ThreadMatch(None, "", forged)


# A merged ticket's survivor may itself be merged later; the chain is short in practice.
MAX_MERGE_HOPS = 10


def _survivor(ticket: Ticket, lookup: Lookup) -> Ticket:
    """Mail to a ticket merged into another goes to the survivor (tickets.services.merge): our
    reply tokens and `[#number]` tags still name the merged one."""
    for _ in range(MAX_MERGE_HOPS):
        if not ticket.merged_into_id:
            break
        survivor = lookup.ticket(ticket.merged_into_id)
        if survivor is None:
            break
        ticket = survivor
    return ticket


# -- rule 1: signed tokens ------------------------------------------------------------------


def token_candidates(ids: list[str], recipients: list[str]):
    """(where, value, token or None, forged) for every id and recipient, in rule order."""
    for candidate in [*(("id", i) for i in ids), *(("rcpt", r) for r in recipients)]:
        yield (*candidate, *_token_of(*candidate))


def _by_token(
    ids: list[str], recipients: list[str], organization_id: int, lookup: Lookup
) -> tuple[Ticket | None, bool]:
    forged = False
    for *candidate, token, is_forged in token_candidates(ids, recipients):
        if is_forged:
            forged = True
            logger.warning("forged reply token ignored in %s %r", candidate[0], candidate[1])
        if token is None:
            continue
        org_id, ticket_id = token
        if org_id != organization_id:
            # A genuine token of another tenant: it proves nothing here.
            logger.warning("reply token of tenant %s ignored in tenant %s", org_id, organization_id)
            continue
        ticket = lookup.ticket(ticket_id)
        if ticket is not None:
            return ticket, forged
    return None, forged


def _token_of(kind: str, value: str) -> tuple[tuple[int, int] | None, bool]:
    if kind == "id":
        if not mail_tokens.is_our_message_id(value):
            return None, False
        token = mail_tokens.ticket_from_message_id(value)
        return token, token is None
    tag = split_plus(value)[1]
    if not tag:
        return None, False
    token = mail_tokens.parse_token(tag)  # once: has_forged_token would check the HMAC again
    return token, token is None and mail_tokens.TOKEN_RE.search(tag.lower()) is not None


# -- rule 2: known Message-IDs --------------------------------------------------------------


def _by_known_id(ids: list[str], own_id: str, lookup: Lookup) -> Ticket | None:
    wanted = known_id_lookup(ids, own_id)
    if not wanted:
        return None
    known = lookup.thread_references(wanted)
    if not known and ids:
        known = lookup.comment_message_ids(ids)
    ticket_id = next((known[i] for i in wanted if i in known), None)
    if ticket_id is None and ids:
        ticket_id = lookup.sent_ticket_id(ids)
    return lookup.ticket(ticket_id) if ticket_id else None


def known_id_lookup(ids: list[str], own_id: str) -> list[str]:
    """The ids rule 2 looks up, in order: the thread's, then the message's own."""
    return [*ids, own_id] if own_id else list(ids)


# -- rule 3: the [#number] tag --------------------------------------------------------------


def _by_tag(subject: str, sender: Sender, lookup: Lookup) -> Ticket | None:
    for number in subjects.find_ticket_tags(subject):
        ticket = lookup.ticket_by_number(number)
        if ticket is not None and _may_write(ticket, sender, lookup):
            return ticket
        if ticket is not None:
            logger.info("subject tag [#%s] from %s ignored: not a participant", number, sender)
    return None


def _may_write(ticket: Ticket, sender: Sender, lookup: Lookup) -> bool:
    if sender.is_staff or ticket.requester.email == sender.address:
        return True
    return lookup.is_collaborator(ticket, sender.address)


# -- rule 4: Outlook's conversation index ----------------------------------------------------


def conversation_key(parsed: ParsedMessage) -> str:
    """The Thread-Index's conversation header block, hex-encoded; "" without one."""
    header = parsed.thread_index[: mail_tokens.CONVERSATION_HEADER_BYTES]
    return header.hex() if len(header) == mail_tokens.CONVERSATION_HEADER_BYTES else ""


def _by_conversation(
    parsed: ParsedMessage, organization_id: int, sender: Sender, lookup: Lookup
) -> Ticket | None:
    key = conversation_key(parsed)
    if not key:
        return None
    ours = mail_tokens.ticket_from_conversation_header(bytes.fromhex(key))
    if ours is not None:
        # Signed like a reply token; another tenant's block proves nothing here.
        return lookup.ticket(ours[1]) if ours[0] == organization_id else None
    ticket_id = lookup.conversation_tickets([key]).get(key)
    ticket = lookup.ticket(ticket_id) if ticket_id else None
    if ticket is not None and _may_write(ticket, sender, lookup):
        return ticket
    return None


def conversation_rows(parsed: ParsedMessage, ticket: Ticket | None) -> list[ConversationIndex]:
    """The row that makes later mail of this message's Outlook conversation find `ticket`
    (rule 4); none for our own signed block, which needs none, or without a Thread-Index."""
    key = conversation_key(parsed)
    if ticket is None or not key:
        return []
    if mail_tokens.ticket_from_conversation_header(bytes.fromhex(key)) is not None:
        return []
    return [ConversationIndex(organization_id=ticket.organization_id, key=key, ticket=ticket)]


# -- rule 5: reply prefix and subject -------------------------------------------------------


def _by_subject(parsed: ParsedMessage, sender: Sender, lookup: Lookup) -> Ticket | None:
    subject = parsed.subject
    if subjects.is_forward(subject):
        return None  # a forward passes on something new, whatever its title
    wanted = {subjects.normalize_subject(subject)}
    is_reply = subjects.has_reply_prefix(subject)
    if _is_outlook_reply(parsed):
        # Thread-Topic is the conversation's subject without prefixes, which gateways that
        # rewrite the Subject ("[EXTERNAL] RE: ...") leave alone.
        wanted, is_reply = {*wanted, subjects.normalize_subject(parsed.thread_topic)}, True
    wanted.discard("")
    if not wanted:
        return None  # "Re:" alone says nothing about which conversation
    for ticket in lookup.recent_open(sender.address):
        if subjects.normalize_subject(ticket.subject) not in wanted:
            continue
        # A reply joins the open conversation; an original joins only a ticket that its own
        # reply opened first (processed before it, e.g. by another worker at the same time).
        if is_reply or subjects.has_reply_prefix(ticket.subject):
            return ticket
    return None


def _is_outlook_reply(parsed: ParsedMessage) -> bool:
    """A Thread-Index with child blocks (one per reply or forward) and a Thread-Topic."""
    return bool(parsed.thread_topic) and len(parsed.thread_index) > (
        mail_tokens.CONVERSATION_HEADER_BYTES
    )
