"""Applying a decided message: a new ticket, a customer's reply, a staff reply steered by
markers, or a bounce; with the contacts, collaborators, uploads and thread references they need.
"""

import re
from dataclasses import replace

from inbound_mail import routing, subjects
from inbound_mail.models import ConversationIndex, InboundMessage, ThreadReference
from inbound_mail.parsing import Address, ParsedMessage
from inbound_mail.parsing.unpacking import split_forwarded_html
from inbound_mail.send_guard import answered_entry
from inbound_mail.services.decisions import Context, Outcome, Reads, decide
from inbound_mail.threading import Lookup, ThreadMatch, conversation_rows, thread_ids
from tenants.models import Organization
from tickets import events, mail_tokens
from tickets.models import Comment, Contact, StatusCategory, Ticket
from tickets.sanitize import mail_body_html, text_to_html
from tickets.services.attachments import Upload
from tickets.services.comments import comment_create
from tickets.services.contacts import contact_get_or_create, contact_mark_undeliverable
from tickets.services.defaults import default_status
from tickets.services.send_guard import mail_reply_create
from tickets.services.tickets import collaborator_add, ticket_change_status, ticket_create

Status = InboundMessage.Status


def apply_decided(row: InboundMessage, parsed: ParsedMessage) -> Outcome:
    """Decide with what the database holds now, and apply: one message, start to end."""
    decision = decide(row, parsed, Reads())
    if decision.outcome is not None:
        return decision.outcome
    if decision.bounce:
        return _apply_bounce(row, parsed)
    assert decision.context is not None  # neither settled nor a bounce: decide gave a context
    return _apply_message(decision.context)


# -- bounces ---------------------------------------------------------------------------------


def _apply_bounce(row: InboundMessage, parsed: ParsedMessage) -> Outcome:
    bounce = parsed.bounce
    assert bounce is not None  # decide calls a message a bounce only when it holds one
    recipients = [r.lower() for r in bounce.recipients]
    if not bounce.is_hard:
        return Outcome(Status.IGNORED, f"delivery delayed, not failed ({bounce.status}): ignored")
    reason = f"{bounce.action} {bounce.status}".strip()
    marked = _mark_outgoing_bounced(
        row.organization, bounce.original_message_id, recipients, reason
    )
    ticket = _ticket_of_our_message(bounce.original_message_id, row.organization_id)
    if not marked and ticket is None:
        # Anyone can forge a DSN; only one about mail we sent may silence a contact.
        return Outcome(Status.IGNORED, "bounce about a message we did not send: recorded only")
    # Only a permanent failure of an address we mailed silences a contact: a full mailbox
    # or a 4.x.x give-up passes, and a DSN may name addresses we never wrote to.
    sent_to = _addresses_we_sent_to(ticket, bounce.original_message_id, recipients)
    contacts = Contact.objects.filter(email__in=sent_to) if bounce.is_permanent else []
    silenced = [
        c.email
        for c in contacts
        if contact_mark_undeliverable(contact=c, reason=f"bounced: {reason}")
    ]
    kept = "" if bounce.is_permanent else " (a temporary failure: contacts kept)"
    return Outcome(
        Status.PROCESSED,
        f"bounce ({reason}) for {', '.join(recipients) or 'unknown recipients'}: "
        f"{marked} outgoing message(s) marked bounced; undeliverable: "
        f"{', '.join(silenced) or '-'}{kept}",
        ticket=ticket,
    )


def _addresses_we_sent_to(
    ticket: Ticket | None, original_message_id: str, recipients: list[str]
) -> list[str]:
    """Of the bounce's recipients, those our message with that Message-ID went to."""
    sent = getattr(ticket, "outgoing_messages", None)  # None: outbound mail not installed
    if sent is None or not original_message_id:
        return []
    rows = sent.filter(message_id=original_message_id.strip().strip("<>"))
    ours = {address.lower() for address in rows.values_list("to_address", flat=True)}
    return [r for r in recipients if r in ours]


def _mark_outgoing_bounced(organization, original_message_id, recipients, reason) -> int:
    if not original_message_id:
        return 0
    try:
        from outbound_mail.services.sending import outgoing_mark_bounced
    except ImportError:  # the outbound app is not installed: we sent nothing to mark
        return 0
    return outgoing_mark_bounced(
        organization=organization,
        original_message_id=original_message_id,
        recipients=recipients,
        reason=reason,
    )


def _ticket_of_our_message(message_id: str, organization_id: int) -> Ticket | None:
    token = mail_tokens.ticket_from_message_id(message_id) if message_id else None
    if token is None or token[0] != organization_id:
        return None
    return Ticket.objects.filter(pk=token[1]).first()


# -- tickets and comments --------------------------------------------------------------------


def _apply_message(ctx: Context) -> Outcome:
    if _tag_admits_only_staff(ctx) and ctx.unverified_staff:
        # A [#n] tag lets staff write on any ticket, and From: alone does not make staff: an
        # unproven sender who is no participant of the tagged ticket threads as anyone would.
        ctx = replace(ctx, match=ThreadMatch(ticket=None))
    outcome = _reply(ctx) if ctx.match.ticket is not None else _new_ticket(ctx)
    _remember_ids(outcome.ticket, ctx.parsed)
    if ctx.match.forged:
        outcome.reason += FORGED_NOTE
    return outcome


FORGED_NOTE = "; a forged reply token was ignored"


def _tag_admits_only_staff(ctx: Context) -> bool:
    ticket = ctx.match.ticket
    if ctx.match.rule != "tag" or ticket is None or ctx.staff is None:
        return False
    address = ctx.sender.address
    return ticket.requester.email != address and not Lookup().is_collaborator(ticket, address)


def _new_ticket(ctx: Context) -> Outcome:
    address, name, subject, forwarded = opening(ctx)
    requester = _contact(ctx.organization, address, name)
    ticket = ticket_create(
        organization=ctx.organization,
        subject=subject,
        requester=requester,
        source=Ticket.Source.EMAIL,
        collaborators=_cc_contacts(ctx, exclude=requester.email),
        **message_body(ctx.parsed),
    )
    comment = ticket.comments.first()
    reason = opening_reason(requester.email, forwarded)
    if ctx.parsed.forwarded_from is not None and ctx.unverified_staff:
        # Forwarded "as staff" by someone who only wrote an agent's address in From: the
        # ticket is the sender's own, as for any customer's forward.
        _tell_unverified_staff(ctx, ticket, comment)
        reason += UNVERIFIED_FORWARD_NOTE
    return Outcome(Status.PROCESSED, reason, ticket=ticket, comment=comment)


UNVERIFIED_FORWARD_NOTE = "; the sender names staff but is unverified: not forwarded as staff"


def opening(ctx: Context) -> tuple[str, str, str, bool]:
    """Who a new ticket is for: (address, display name, subject, forwarded by staff)."""
    parsed = ctx.parsed
    origin, subject = _requester_address(ctx), parsed.subject
    forwarded = origin is not parsed.from_ and origin is not None
    if forwarded:
        subject = subjects.strip_prefixes(subject) or subject
    if origin is None:
        return ctx.sender.address, "", subject, forwarded
    return origin.address, origin.name, subject, forwarded


def opening_reason(requester_email: str, forwarded: bool) -> str:
    return f"new ticket for {requester_email}, forwarded by staff" if forwarded else "new ticket"


def message_body(parsed: ParsedMessage) -> dict:
    """The comment a message becomes: texts, sanitised HTML, attachments, its Message-ID."""
    return {
        "body_text": parsed.text,
        "body_html": mail_body_html(_body_html(parsed), parsed.text),
        "full_text": parsed.text_full,
        "uploads": _uploads(parsed),
        "message_id": parsed.message_id,
    }


def _requester_address(ctx: Context) -> Address | None:
    """Staff forwarding a customer's mail open the ticket for the original sender (only staff
    proven to have sent it: inbound_mail.staff_proof)."""
    if ctx.staff is not None and ctx.parsed.forwarded_from is not None and ctx.staff_proof:
        return ctx.parsed.forwarded_from
    return ctx.parsed.from_ if ctx.parsed.from_ and "@" in ctx.parsed.from_.address else None


def _reply(ctx: Context) -> Outcome:
    if ctx.staff is not None and not ctx.auto_reason:
        return _staff_reply(ctx) if ctx.staff_proof else _unverified_staff_note(ctx)
    ticket = ctx.match.ticket
    assert ticket is not None  # _apply_message replies only on a matched ticket
    author = _contact(ctx.organization, *reply_author(ctx))
    comment = comment_create(
        ticket=ticket,
        is_public=True,
        author_contact=author,
        channel=Comment.Channel.EMAIL,
        auto_generated=bool(ctx.auto_reason),
        **message_body(ctx.parsed),
    )
    if not ctx.auto_reason:
        # collaborator_add skips the requester itself.
        for contact in [author, *_cc_contacts(ctx, exclude="")]:
            collaborator_add(ticket=ticket, contact=contact, actor_contact=author)
    return Outcome(Status.PROCESSED, reply_reason(ctx, ticket), ticket=ticket, comment=comment)


def reply_author(ctx: Context) -> tuple[str, str]:
    return ctx.sender.address, ctx.parsed.from_.name if ctx.parsed.from_ else ""


def reply_reason(ctx: Context, ticket: Ticket) -> str:
    how = f"{ctx.auto_reason}; filed" if ctx.auto_reason else "reply"
    return f"{how} on #{ticket.number} by {ctx.match.rule}"


# Agents steer a reply by mail with markers in the subject or on the first line
# (the same markers Zammad and osTicket users know).
_PRIVATE_RE = re.compile(r"\[(?:PVT|Reply to Team)\]", re.IGNORECASE)
_CLOSE_RE = re.compile(r"\[CLOSED\]", re.IGNORECASE)


def _staff_reply(ctx: Context) -> Outcome:
    # _reply hands over only proven staff's mail on a matched ticket.
    assert ctx.staff is not None
    assert ctx.match.ticket is not None
    parsed, ticket, user = ctx.parsed, ctx.match.ticket, ctx.staff.user
    first_line, _, rest = parsed.text.lstrip().partition("\n")
    steering = f"{parsed.subject}\n{first_line}"
    private = bool(_PRIVATE_RE.search(steering))
    close = bool(_CLOSE_RE.search(steering))
    # The sender is proven (ctx.staff_proof); still, only mail that answers something we sent
    # (signed token, known Message-ID) speaks to the customer: a subject tag may be a typo.
    proven = ctx.match.rule in ("token", "message_id")
    first_line = _CLOSE_RE.sub("", _PRIVATE_RE.sub("", first_line)).strip()
    body = f"{first_line}\n{rest}".strip() if first_line else rest.strip()
    public = not private and proven
    # The send guard: a reply to an older entry than the newest one not the agent's is held.
    comment = mail_reply_create(
        ticket=ticket,
        answered=answered_entry(ticket, parsed) if public else None,
        body_text=body,
        full_text=parsed.text_full,
        is_public=public,
        author_user=user,
        channel=Comment.Channel.EMAIL,
        uploads=_uploads(parsed),
        message_id=parsed.message_id,
    )
    held = bool(comment.held_reason)
    if close and not held:  # a held reply changes nothing the customer would notice
        ticket_change_status(
            ticket=ticket,
            status=default_status(StatusCategory.RESOLVED),
            actor_user=user,
        )
    kind = "public reply" if comment.is_public else "internal note"
    return Outcome(
        Status.PROCESSED,
        f"staff {kind} on #{ticket.number} by {ctx.match.rule}"
        + (", resolved" if close and not held else "")
        + (f"; {comment.held_reason}" + (", not resolved" if close else "") if held else "")
        + f"; sender proven by {ctx.staff_proof}",
        ticket=ticket,
        comment=comment,
    )


UNVERIFIED_LABEL = (
    "Unverified sender: this mail names {address} in From:, but nothing proves the agent sent "
    "it. It was kept as an internal note; [CLOSED] and other markers were ignored."
)


def _unverified_staff_note(ctx: Context) -> Outcome:
    """Mail in an agent's name without proof: an internal note from the address that wrote,
    labelled, with no status change and no steering; the agent is told by mail."""
    ticket = ctx.match.ticket
    assert ticket is not None  # _reply hands over only mail on a matched ticket
    label = UNVERIFIED_LABEL.format(address=ctx.sender.address)
    comment = comment_create(
        ticket=ticket,
        body_text=f"{label}\n\n{ctx.parsed.text.strip()}",
        full_text=ctx.parsed.text_full,
        is_public=False,
        author_contact=_contact(ctx.organization, *reply_author(ctx)),
        channel=Comment.Channel.EMAIL,
        uploads=_uploads(ctx.parsed),
        message_id=ctx.parsed.message_id,
        reopen=False,
    )
    _tell_unverified_staff(ctx, ticket, comment)
    return Outcome(
        Status.PROCESSED,
        f"unverified staff mail kept as an internal note on #{ticket.number} by {ctx.match.rule}",
        ticket=ticket,
        comment=comment,
    )


def _tell_unverified_staff(ctx: Context, ticket: Ticket, comment: Comment | None) -> None:
    assert ctx.staff is not None  # only staff mail is unverified staff mail
    data = {
        "user_id": ctx.staff.user_id,
        "comment_id": comment.pk if comment is not None else None,
        "from": ctx.sender.address,
        "subject": ctx.parsed.subject[:300],
    }
    events.emit(
        events.DomainEvent(
            events.STAFF_MAIL_UNVERIFIED,
            ctx.organization.pk,
            ticket.pk,
            actor_user_id=None,
            data=data,
        )
    )


def _contact(organization: Organization, email: str, name: str) -> Contact:
    return contact_get_or_create(organization=organization, email=email, name=name)


def _cc_contacts(ctx: Context, *, exclude: str) -> list[Contact]:
    ours = routing.platform_addresses([a.address for a in ctx.parsed.cc])
    return [_contact(ctx.organization, *pair) for pair in cc_addresses(ctx, exclude, ours)]


def cc_addresses(ctx: Context, exclude: str, ours: set[str]) -> list[tuple[str, str]]:
    """Cc recipients become collaborators, except the sender and any helpdesk's own addresses
    (`ours`: routing.platform_addresses of the Cc addresses); (address, name) pairs."""
    return [
        (a.address, a.name)
        for a in ctx.parsed.cc
        if "@" in a.address
        and a.address != exclude
        and a.address not in ours
        and a.address != ctx.sender.address
    ][:20]


def _body_html(parsed: ParsedMessage) -> str:
    """The sender's HTML, unless quoted history was cut from the text: the HTML still holds
    it, so the shorter text is shown (the full text stays behind "show quoted text"). The
    collapsed forwarded messages the parser appended stay after either."""
    own, forwarded = split_forwarded_html(parsed.html)
    if (own and parsed.text.strip() == parsed.text_full.strip()) or "cid:" in own:
        return parsed.html
    return text_to_html(parsed.text) + forwarded if forwarded else ""


def _uploads(parsed: ParsedMessage) -> list[Upload]:
    return [
        Upload(
            filename=a.filename,
            content=a.payload,
            content_type=a.content_type,
            content_id=a.content_id,
            inline=a.inline,
        )
        for a in parsed.attachments
    ]


def _remember_ids(ticket: Ticket | None, parsed: ParsedMessage) -> None:
    """This message's id and the ids it refers to now lead to its ticket (threading rule 2)."""
    if ticket is None:
        return
    ids = [parsed.message_id, *thread_ids(parsed)]
    ThreadReference.objects.bulk_create(
        [
            ThreadReference(
                organization_id=ticket.organization_id, message_id=i[:255], ticket=ticket
            )
            for i in dict.fromkeys(ids)
            if i
        ],
        ignore_conflicts=True,
    )
    if conversation := conversation_rows(parsed, ticket):
        ConversationIndex.objects.bulk_create(conversation, ignore_conflicts=True)
