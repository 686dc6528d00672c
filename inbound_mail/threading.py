"""Which ticket a message belongs to, by four rules in a fixed order (first match wins):

1. a signed reply token: in our own Message-IDs quoted in In-Reply-To/References, or in the
   plus part of a recipient (support+<token>@). A token-shaped string that fails its HMAC is a
   forgery: ignored and logged.
2. a Message-ID the tenant already knows (mail it received, ids that mail referred to, comments,
   mail it sent) in In-Reply-To and References, newest first; then the message's own id, when
   a reply to it arrived first.
3. the `[#number]` subject tag, only from the requester, a collaborator or staff of the tenant:
   ticket numbers are guessable, and a stranger must not be able to write into a ticket.
4. a reply-prefixed subject ("Re:", "AW:", "回复:" ...) from the requester of an open ticket with
   the same normalized subject, active within 14 days (clients that drop In-Reply-To); and
   the original of such a reply when the reply was processed first (its ticket's subject
   still carries the prefix).
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from inbound_mail import subjects
from inbound_mail.models import ThreadReference
from inbound_mail.parsing import ParsedMessage
from inbound_mail.routing import split_plus
from tickets import mail_tokens
from tickets.models import UNRESOLVED_CATEGORIES, Collaborator, Comment, Ticket

logger = logging.getLogger(__name__)

SUBJECT_WINDOW = timedelta(days=14)
# References can be long (mailing lists); the newest ancestors and the root are what matter.
MAX_IDS = 60
# Rule 4 compares the subject with this many of the requester's latest open tickets.
RECENT_LIMIT = 50


@dataclass(frozen=True)
class ThreadMatch:
    ticket: Ticket | None
    rule: str = ""  # "token", "message_id", "tag", "subject" or "" for a new thread
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

    def recent_open(self, address: str) -> list[Ticket]:
        """The requester's unresolved tickets active within the window, latest first."""
        return list(
            Ticket.objects.filter(
                requester__email=address,
                status_category__in=UNRESOLVED_CATEGORIES,
                last_activity_at__gte=timezone.now() - SUBJECT_WINDOW,
            ).order_by("-last_activity_at", "-id")[:RECENT_LIMIT]
        )


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
        ("subject", lambda: _by_subject(parsed.subject, sender, lookup)),
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
    return mail_tokens.parse_token(tag), mail_tokens.has_forged_token(tag)


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


# -- rule 4: reply prefix and subject -------------------------------------------------------


def _by_subject(subject: str, sender: Sender, lookup: Lookup) -> Ticket | None:
    wanted = subjects.normalize_subject(subject)
    if not wanted:
        return None  # "Re:" alone says nothing about which conversation
    is_reply = subjects.has_reply_prefix(subject) or subjects.has_forward_prefix(subject)
    for ticket in lookup.recent_open(sender.address):
        if subjects.normalize_subject(ticket.subject) != wanted:
            continue
        # A reply joins the open conversation; an original joins only a ticket that its own
        # reply opened first (processed before it, e.g. by another worker at the same time).
        if is_reply or subjects.has_reply_prefix(ticket.subject):
            return ticket
    return None
