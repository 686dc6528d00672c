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


def find_ticket(
    parsed: ParsedMessage, *, organization_id: int, sender: Sender, recipients: Iterable[str]
) -> ThreadMatch:
    ids = thread_ids(parsed)
    ticket, forged = _by_token(ids, list(recipients), organization_id)
    if ticket is not None:
        return ThreadMatch(ticket, "token", forged)
    for rule, finder in (
        ("message_id", lambda: _by_known_id(ids, parsed.message_id)),
        ("tag", lambda: _by_tag(parsed.subject, sender)),
        ("subject", lambda: _by_subject(parsed.subject, sender)),
    ):
        ticket = finder()
        if ticket is not None:
            return ThreadMatch(ticket, rule, forged)
    return ThreadMatch(None, "", forged)


# -- rule 1: signed tokens ------------------------------------------------------------------


def _by_token(
    ids: list[str], recipients: list[str], organization_id: int
) -> tuple[Ticket | None, bool]:
    forged = False
    for candidate in [*(("id", i) for i in ids), *(("rcpt", r) for r in recipients)]:
        token, is_forged = _token_of(*candidate)
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
        ticket = Ticket.objects.filter(pk=ticket_id).first()
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


def _by_known_id(ids: list[str], own_id: str) -> Ticket | None:
    lookup = [*ids, own_id] if own_id else ids
    if not lookup:
        return None
    known = dict(
        ThreadReference.objects.filter(message_id__in=lookup).values_list("message_id", "ticket_id")
    )
    if not known and ids:
        # Comments that arrived before ThreadReference existed, or came in another way.
        known = dict(
            Comment.objects.filter(message_id__in=ids).values_list("message_id", "ticket_id")
        )
    ticket_id = next((known[i] for i in lookup if i in known), None)
    if ticket_id is None and ids:
        ticket_id = _sent_by_us(ids)
    return Ticket.objects.filter(pk=ticket_id).first() if ticket_id else None


def _sent_by_us(ids: list[str]) -> int | None:
    """Message-IDs of mail the outbound side sent (its own table)."""
    try:
        from outbound_mail.selectors import ticket_id_for_message_ids
    except ImportError:  # the outbound app is not installed: nothing was sent by it
        return None
    return ticket_id_for_message_ids(ids)


# -- rule 3: the [#number] tag --------------------------------------------------------------


def _by_tag(subject: str, sender: Sender) -> Ticket | None:
    for number in subjects.find_ticket_tags(subject):
        ticket = Ticket.objects.filter(number=number).select_related("requester").first()
        if ticket is not None and _may_write(ticket, sender):
            return ticket
        if ticket is not None:
            logger.info("subject tag [#%s] from %s ignored: not a participant", number, sender)
    return None


def _may_write(ticket: Ticket, sender: Sender) -> bool:
    if sender.is_staff or ticket.requester.email == sender.address:
        return True
    return Collaborator.objects.filter(ticket=ticket, contact__email=sender.address).exists()


# -- rule 4: reply prefix and subject -------------------------------------------------------


def _by_subject(subject: str, sender: Sender) -> Ticket | None:
    wanted = subjects.normalize_subject(subject)
    if not wanted:
        return None  # "Re:" alone says nothing about which conversation
    is_reply = subjects.has_reply_prefix(subject) or subjects.has_forward_prefix(subject)
    recent = Ticket.objects.filter(
        requester__email=sender.address,
        status_category__in=UNRESOLVED_CATEGORIES,
        last_activity_at__gte=timezone.now() - SUBJECT_WINDOW,
    ).order_by("-last_activity_at", "-id")[:50]
    for ticket in recent:
        if subjects.normalize_subject(ticket.subject) != wanted:
            continue
        # A reply joins the open conversation; an original joins only a ticket that its own
        # reply opened first (processed before it, e.g. by another worker at the same time).
        if is_reply or subjects.has_reply_prefix(ticket.subject):
            return ticket
    return None
