"""One outbox row per message and recipient: the event's context, rendering, loop safety,
threading headers, and storing the rows (already claimed when the caller sends them at once)."""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from outbound_mail import kinds, placeholders, rendering, safety, selectors
from outbound_mail.kinds import Kind
from outbound_mail.models import (
    EmailTemplate,
    MailSettings,
    OutgoingMessage,
    OutgoingMessageComment,
    SmtpConnection,
)
from outbound_mail.services.templates import branding_of
from outbound_mail.threading import TicketHistory
from tenants.models import Organization, User
from tickets.mail_tokens import (
    make_message_id,
    make_staff_message_id,
    make_staff_tag,
    make_token,
    plus_address,
)
from tickets.models import Attachment, Comment, Contact, Ticket

logger = logging.getLogger(__name__)
Status = OutgoingMessage.Status


@dataclass(frozen=True)
class Recipient:
    address: str
    name: str
    contact: Contact | None = None
    user: User | None = None


@dataclass
class Queued:
    """What one event queued: the rows due now; with `claim`, those rows already claimed."""

    due: list[int] = field(default_factory=list)
    token: str = ""
    claimed: list[OutgoingMessage] = field(default_factory=list)
    connection: SmtpConnection | None = None


@dataclass
class EventContext:
    organization: Organization
    ticket: Ticket
    actor_id: int | None
    data: dict
    now: datetime
    claim: bool = False
    due_now: list[int] = field(default_factory=list)
    claimed: list[OutgoingMessage] = field(default_factory=list)
    templates: dict[str, EmailTemplate | None] = field(default_factory=dict)
    queued: list[tuple[OutgoingMessage, list[int]]] = field(default_factory=list)
    known_comments: dict[int, Comment] = field(default_factory=dict)

    @cached_property
    def token(self) -> str:
        return uuid.uuid4().hex if self.claim else ""

    @cached_property
    def history(self) -> TicketHistory:
        return TicketHistory(self.ticket.pk, ticket=self.ticket)

    @cached_property
    def _attachments(self) -> dict[tuple[int, ...], list[int]]:
        return {}

    def attachment_ids(self, comment_ids: list[int]) -> list[int]:
        key = tuple(comment_ids)
        if key not in self._attachments:
            found = Attachment.objects.filter(comment_id__in=comment_ids).order_by("id")
            self._attachments[key] = list(found.values_list("pk", flat=True))
        return self._attachments[key]

    def comments(self, ids: list[int]) -> dict[int, Comment]:
        """Comments by id with their authors, each fetched once per event."""
        missing = [i for i in ids if i not in self.known_comments]
        if missing:
            found = Comment.objects.select_related("author_user", "author_contact")
            self.known_comments.update(found.in_bulk(missing))
        return {i: self.known_comments[i] for i in ids if i in self.known_comments}

    def template(self, kind: str) -> EmailTemplate | None:
        if kind not in self.templates:
            self.templates[kind] = selectors.template_row(kind)
        return self.templates[kind]

    def enabled(self, kind: str) -> bool:
        return selectors.enabled_of(kind, self.template(kind))

    def source(self, kind: str) -> rendering.Source:
        return selectors.source_of(kind, self.template(kind))

    @cached_property
    def actor(self) -> User | None:
        return User.objects.filter(pk=self.actor_id).first() if self.actor_id else None

    @cached_property
    def settings(self) -> MailSettings:
        return selectors.mail_settings()

    @cached_property
    def connection(self) -> SmtpConnection | None:
        return selectors.smtp_connection()

    @cached_property
    def own_addresses(self) -> set[str]:
        connection = self.connection
        extra = (connection.from_address, connection.reply_to_address) if connection else ()
        return safety.own_addresses(extra)

    @cached_property
    def reply_to(self) -> str:
        return _reply_to(self)

    @cached_property
    def inbound(self):
        return _inbound_address(self)

    @cached_property
    def branding(self) -> rendering.Branding:
        return branding_of(self.organization)

    @cached_property
    def ticket_values(self) -> dict[str, str]:
        return placeholders.ticket_values(self.ticket)


# -- one outbox row ----------------------------------------------------------------------------


def queue(
    ctx: EventContext,
    kind: str,
    recipient: Recipient,
    values: dict,
    *,
    automatic: bool,
    changes: list[dict] | None = None,
    comment_ids: Sequence[int] = (),
    attachment_ids: Sequence[int] = (),
    send_after: datetime | None = None,
    extra_headers: dict[str, str] | None = None,
    source: rendering.Source | None = None,
) -> OutgoingMessage:
    """Render one message for one recipient and store it, withheld with the reason if unsafe.

    `extra_headers` are display headers (a reply's To and Cc); the row still goes to
    `recipient` alone. `source` replaces the kind's template (an automation's own text)."""
    withheld = _withheld(ctx, kind, recipient, automatic)
    rendered = render(ctx, kind, {**values, "recipient_name": recipient.name}, source=source)
    row = OutgoingMessage(
        organization=ctx.organization,
        ticket=ctx.ticket,
        kind=kind,
        automatic=automatic,
        contact=recipient.contact,
        user=recipient.user,
        to_address=recipient.address,
        to_name=recipient.name,
        subject=rendered.subject,
        body_text=rendered.body_text,
        body_html=rendered.body_html,
        headers={
            **headers(ctx, kind, recipient.address, automatic, user=recipient.user),
            **(extra_headers or {}),
        },
        message_id=_message_id(ctx, recipient.user),
        changes=changes or [],
        foldable=kind in kinds.FOLDING_KINDS,
        attachment_ids=list(attachment_ids),
        status=Status.SUPPRESSED if withheld else Status.PENDING,
        last_error=withheld,
        send_after=send_after or ctx.now,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.queued.append((row, list(comment_ids)))
    ctx.history.add(row)
    return row


def store(ctx: EventContext) -> None:
    """Insert the event's new rows and their comment links: two statements for any number.

    With `claim`, the rows due now are stored already claimed (`sending`, the context's token).
    """
    if not ctx.queued:
        return
    due = [r for r, _ in ctx.queued if r.status == Status.PENDING and r.send_after <= ctx.now]
    if ctx.claim:
        for row in due:
            claim_for_caller(ctx, row)
    OutgoingMessage.objects.bulk_create([row for row, _ in ctx.queued])
    links = [
        OutgoingMessageComment(organization=ctx.organization, message=row, comment_id=comment_id)
        for row, comment_ids in ctx.queued
        for comment_id in comment_ids
    ]
    OutgoingMessageComment.objects.bulk_create(links)
    ctx.due_now += [r.pk for r in due]
    ctx.queued.clear()


def claim_for_caller(ctx: EventContext, row: OutgoingMessage) -> None:
    row.status, row.claim_token, row.claimed_at = Status.SENDING, ctx.token, ctx.now
    row.attempts, row.first_attempt_at = row.attempts + 1, row.first_attempt_at or ctx.now
    ctx.claimed.append(row)


def link_comments(row: OutgoingMessage, comment_ids: list[int]) -> None:
    known = set(row.comment_links.values_list("comment_id", flat=True))
    OutgoingMessageComment.objects.bulk_create(
        OutgoingMessageComment(organization_id=row.organization_id, message=row, comment_id=i)
        for i in comment_ids
        if i not in known
    )


def declined_by_contact(kind: str, recipient: Recipient) -> str:
    """Why the contact does not want this mail (their choice in the portal's profile: no mail
    about replies), or "". Asked again when a waiting update folds in a change."""
    contact = recipient.contact
    if kind in kinds.REPLY_CHOICE_KINDS and contact is not None and not contact.mail_replies:
        return f"Not sent: {recipient.address} chose no mail about replies (the portal's profile)."
    return ""


def _withheld(ctx: EventContext, kind: str, recipient: Recipient, automatic: bool) -> str:
    """Why this message must not be sent, or "" (loop safety, RFC 3834 section 2; the
    contact's own choice of no mail about their tickets, made in the portal's profile)."""
    address = recipient.address
    if safety.is_own_address(address, ctx.own_addresses):
        return "Not sent: this is one of our own addresses (it would loop back as a ticket)."
    contact = recipient.contact
    if refused := declined_by_contact(kind, recipient):
        return refused
    if not automatic:
        return ""
    if contact is not None and contact.undeliverable:
        why = f" ({contact.undeliverable_reason})" if contact.undeliverable_reason else ""
        return f"Not sent: {address} is marked undeliverable{why}."
    if safety.looks_automatic(address):
        return "Not sent: the address belongs to a mail system or a no-reply sender."
    limit, minutes = ctx.settings.auto_mail_limit, ctx.settings.auto_mail_window_minutes
    if ctx.history.automatic_since(address, ctx.now - timedelta(minutes=minutes)) >= limit:
        return (
            f"Not sent: {limit} automatic messages already went to {address} on this ticket "
            f"in {minutes} minutes."
        )
    return ""


def _message_id(ctx: EventContext, user: User | None) -> str:
    """Mail to an agent carries the agent's own token, which proves their reply (issue 9)."""
    if user is not None:
        return make_staff_message_id(ctx.organization.pk, ctx.ticket.pk, user.pk)
    return make_message_id(ctx.organization.pk, ctx.ticket.pk)


def headers(
    ctx, kind: str, address: str, automatic: bool, *, exclude_id=None, user: User | None = None
) -> dict:
    result = ctx.history.thread(address, exclude_id=exclude_id).headers()
    if automatic:
        result["Auto-Submitted"] = kinds.AUTO_SUBMITTED[Kind(kind)]
        # Exchange and Outlook honour this instead of RFC 3834 ([MS-OXCMAIL] 2.2.3.2.20).
        result["X-Auto-Response-Suppress"] = "All"
    if user is not None:
        staff_reply_to = _staff_reply_to(ctx, user)
        if staff_reply_to:
            result["Reply-To"] = staff_reply_to
    elif kind in kinds.CUSTOMER_KINDS and ctx.reply_to:
        result["Reply-To"] = ctx.reply_to
    return result


def _inbound_address(ctx: EventContext):
    """The tenant's reply address: (InboundAddress or None, the address as configured)."""
    from inbound_mail.models import InboundAddress
    from inbound_mail.selectors import default_inbound_address

    custom = ctx.connection.reply_to_address.lower() if ctx.connection else ""
    inbound = (
        InboundAddress.objects.filter(address=custom).first()
        if custom
        else default_inbound_address()
    )
    return inbound, custom


def _reply_to(ctx: EventContext) -> str:
    """The tenant's reply address, plus-addressed with the ticket's token where it allows."""
    inbound, custom = ctx.inbound
    if inbound is None:
        return custom
    if inbound.plus_addressing:
        return plus_address(inbound.address, make_token(ctx.organization.pk, ctx.ticket.pk))
    return inbound.address


def _staff_reply_to(ctx: EventContext, user: User) -> str:
    """An agent's replies go to the tenant's inbound address, plus-addressed with the ticket's
    token and the agent's own, which proves the reply is theirs (inbound_mail.staff_proof)."""
    inbound, _ = ctx.inbound
    if inbound is None:
        return ""  # no address of ours to take the reply: the agent answers on the ticket page
    if inbound.plus_addressing:
        tag = make_staff_tag(ctx.organization.pk, ctx.ticket.pk, user.pk)
        return plus_address(inbound.address, tag)
    return inbound.address  # the agent's token still rides in our Message-ID


def render(
    ctx: EventContext, kind: str, values: dict, *, source: rendering.Source | None = None
) -> rendering.Rendered:
    """The tenant's template (or `source`), or the default when it fails on this data; branded."""
    try:
        rendered = rendering.render(source or ctx.source(kind), values)
    except rendering.TemplateError:
        logger.warning("template %s of organization %s failed; default used", kind, ctx.ticket)
        rendered = rendering.render(rendering.default_source(kind), values)
    branded = rendering.brand(rendered, ctx.branding)
    subject = rendered.subject or ctx.ticket.subject
    return rendering.Rendered(
        subject=rendering.tagged_subject(subject, ctx.ticket.number),
        body_text=branded.body_text,
        body_html=branded.body_html,
    )
