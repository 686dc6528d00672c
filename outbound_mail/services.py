"""Every change to outgoing mail goes through these functions.

Events become in-app notifications and outbox rows (`notify_event`); workers claim due rows,
send them outside any transaction and record the answer (`outgoing_send_due`); a sweeper
returns rows a dead worker left in flight. Time is always passed in as `now`.
"""

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce
from django.urls import reverse
from django_scopes import scopes_disabled

from outbound_mail import delivery, kinds, placeholders, rendering, safety, selectors, transport
from outbound_mail.kinds import Channel, Kind
from outbound_mail.models import (
    EmailTemplate,
    MailSettings,
    Notification,
    NotificationDefault,
    NotificationPreference,
    OutgoingMessage,
    OutgoingMessageComment,
    SmtpConnection,
)
from outbound_mail.selectors import normalize_message_id
from outbound_mail.threading import TicketHistory
from tenants.hosts import organization_url
from tenants.models import Membership, Organization, TeamMember, User
from tenants.scoping import tenant_scope
from tickets import events
from tickets import services as ticket_services
from tickets.mail_tokens import make_message_id, make_token, plus_address
from tickets.models import Attachment, Comment, Contact, StatusCategory, Ticket

logger = logging.getLogger(__name__)
Status = OutgoingMessage.Status

BATCH_SIZE = 50
RETRY_FOR = timedelta(days=1)
BACKOFF_MINUTES = (1, 2, 5, 10, 20, 40, 60, 120, 240)
STUCK_AFTER = timedelta(minutes=10)


# -- events become notifications and outbox rows -----------------------------------------------


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
        return TicketHistory(self.ticket.pk)

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
    def branding(self) -> rendering.Branding:
        return branding_of(self.organization)

    @cached_property
    def ticket_values(self) -> dict[str, str]:
        return placeholders.ticket_values(self.ticket)


def notify_event(
    *,
    organization: Organization,
    name: str,
    ticket_id: int,
    actor_user_id: int | None,
    data: dict,
    now: datetime,
    claim: bool = False,
) -> Queued:
    """Turn one domain event into notifications and outbox rows; what is due now.

    The ticket row is locked for the transaction, so two events about one ticket fold into
    the same waiting message instead of racing to create two. Sending is the caller's next
    step, outside this transaction: with `claim`, new rows that are due are stored already
    claimed for the caller (`outgoing_send_claimed`), which saves claiming them again.
    """
    handler = HANDLERS.get(name)
    if handler is None:
        return Queued()
    with transaction.atomic():
        ticket = _locked_ticket(organization, ticket_id)
        if ticket is None:
            return Queued()  # deleted since the event: nobody to tell
        ctx = EventContext(organization, ticket, actor_user_id, data, now, claim=claim)
        handler(ctx)
        _store(ctx)
    connection = ctx.connection if ctx.claimed else None
    return Queued(ctx.due_now, ctx.token, ctx.claimed, connection)


def _locked_ticket(organization: Organization, ticket_id: int) -> Ticket | None:
    related = ("status", "priority", "assignee", "team", "requester")
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related(*related)
        .filter(pk=ticket_id)
        .first()
    )
    if ticket is not None:
        ticket.organization = organization  # the active tenant's row, already loaded
    return ticket


def _on_ticket_created(ctx: EventContext) -> None:
    first = ctx.ticket.comments.select_related("author_user", "author_contact").first()
    if ctx.data.get("by_contact"):
        _confirmation(ctx, first)
    elif first is not None and first.is_public:
        # An agent opened it for the customer: their first message is a reply to the customer.
        change = {"type": "reply", "comment_id": first.pk}
        _customer_update(ctx, _customers(ctx.ticket, collaborators=True), change, send_now=False)
    _agent_alert(ctx, Kind.NEW_TICKET_ALERT, _alert_users(ctx), comment=first, members=True)


def _on_comment_added(ctx: EventContext) -> None:
    comment = ctx.comments([ctx.data.get("comment_id")]).get(ctx.data.get("comment_id"))
    if comment is None or not comment.is_public:
        return  # internal notes never reach customers
    if comment.author_user_id:
        change = {"type": "reply", "comment_id": comment.pk}
        customers = _customers(ctx.ticket, collaborators=True)
        _customer_update(ctx, customers, change, send_now=bool(ctx.data.get("send_now")))
    elif comment.author_contact_id:
        ticket = ctx.ticket
        users = [ticket.assignee] if ticket.assignee_id else _alert_users(ctx)
        # An auto-reply threaded onto the ticket is listed in-app but never answered by mail.
        email = not ctx.data.get("auto_generated")
        _agent_alert(
            ctx, Kind.CUSTOMER_REPLY, users, comment=comment, actor=comment.author_name, email=email
        )


def _on_status_changed(ctx: EventContext) -> None:
    if ctx.actor_id is None:
        return  # the customer's own reply reopened it, or the system did: nothing to tell them
    keys = ("from", "to", "to_category")
    change = {"type": "status", **{k: ctx.data.get(k, "") for k in keys}}
    _customer_update(ctx, _customers(ctx.ticket, collaborators=False), change, send_now=False)


def _on_assigned(ctx: EventContext) -> None:
    assignee_id = ctx.data.get("assignee_id")
    if not assignee_id:
        return
    users = list(User.objects.filter(pk=assignee_id))
    actor = ctx.actor.display_name if ctx.actor else ""
    _agent_alert(ctx, Kind.ASSIGNMENT, users, actor=actor)


def _on_sla(kind: str):
    def handler(ctx: EventContext) -> None:
        ticket = ctx.ticket
        users = [ticket.assignee] if ticket.assignee_id else []
        if ticket.team_id:
            managers = TeamMember.objects.filter(team_id=ticket.team_id, is_manager=True)
            users += [m.user for m in managers.select_related("user")]
        extra = placeholders.sla_values(ctx.data, ctx.organization.timezone)
        _agent_alert(ctx, kind, users, extra=extra)

    return handler


HANDLERS = {
    events.TICKET_CREATED: _on_ticket_created,
    events.COMMENT_ADDED: _on_comment_added,
    events.STATUS_CHANGED: _on_status_changed,
    events.ASSIGNED: _on_assigned,
    kinds.SLA_WARNING: _on_sla(Kind.SLA_WARNING),
    kinds.SLA_BREACHED: _on_sla(Kind.SLA_BREACH),
}


# -- who hears it ------------------------------------------------------------------------------


def _customers(ticket: Ticket, *, collaborators: bool) -> list[Recipient]:
    contacts = [ticket.requester]
    if collaborators:
        contacts += list(ticket.collaborators.order_by("id"))
    return [Recipient(c.email.lower(), c.name, contact=c) for c in contacts]


def _alert_users(ctx: EventContext) -> list[User]:
    """The ticket's team, or every agent when it has none (or the tenant says so)."""
    members = Membership.objects.filter(user__is_active=True)
    by_team = ctx.settings.new_ticket_alert_to == MailSettings.AlertTo.TEAM
    if by_team and ctx.ticket.team_id:
        team = TeamMember.objects.filter(team_id=ctx.ticket.team_id).values("user_id")
        members = members.filter(user_id__in=team)
    return [m.user for m in members.select_related("user").order_by("user_id")]


def _members_only(users: list[User], actor_id: int | None) -> list[User]:
    """Active members of this tenant, each once, never the person who acted."""
    ids = {u.pk for u in users if u is not None} - {actor_id}
    members = Membership.objects.filter(user_id__in=ids, user__is_active=True)
    return [m.user for m in members.select_related("user").order_by("user_id")]


# -- agent notifications ---------------------------------------------------------------------


def _agent_alert(
    ctx: EventContext,
    kind: str,
    users: list[User],
    *,
    comment: Comment | None = None,
    actor: str = "",
    extra: dict | None = None,
    email: bool = True,
    members: bool = False,
) -> None:
    users = (
        [u for u in users if u.pk != ctx.actor_id]
        if members
        else _members_only(users, ctx.actor_id)
    )
    if not users:
        return
    channels = selectors.channels_for([u.pk for u in users], kind)
    values = {
        **ctx.ticket_values,
        **placeholders.message_values(comment),
        **placeholders.agent_values(ctx.ticket, kind, actor),
        **(extra or {}),
    }
    email = email and ctx.enabled(kind)
    in_app = []
    for user in users:
        channel = channels[user.pk]
        if channel == Channel.NONE:
            continue
        in_app.append(_notification(ctx, kind, user, values, channel))
        if email and channel in (Channel.EMAIL, Channel.BOTH):
            recipient = Recipient(user.email.lower(), user.display_name, user=user)
            _queue(ctx, kind, recipient, values, automatic=True)
    Notification.objects.bulk_create(in_app)


TITLES = {
    Kind.NEW_TICKET_ALERT: "New ticket #{ticket_number}: {ticket_subject}",
    Kind.CUSTOMER_REPLY: "{actor_name} replied on #{ticket_number}: {ticket_subject}",
    Kind.ASSIGNMENT: "#{ticket_number} assigned to you: {ticket_subject}",
    Kind.SLA_WARNING: "SLA warning on #{ticket_number}: {sla_target} due {sla_due_at}",
    Kind.SLA_BREACH: "SLA breached on #{ticket_number}: {sla_target} was due {sla_due_at}",
}


def _notification(ctx, kind, user, values, channel) -> Notification:
    # "Email only" still lists it (read), so the list is the whole history; only in-app
    # channels ring the bell.
    read_at = None if channel in (Channel.IN_APP, Channel.BOTH) else ctx.now
    preview = " ".join(values.get("message_text", "").split())
    return Notification(
        organization=ctx.organization,
        user=user,
        ticket=ctx.ticket,
        kind=kind,
        title=TITLES[kind].format_map(_Missing(values))[:300],
        body=(preview or values["ticket_subject"])[:500],
        created_at=ctx.now,
        read_at=read_at,
    )


class _Missing(dict):
    def __missing__(self, key):
        return ""


# -- customer mail -----------------------------------------------------------------------------


def _confirmation(ctx: EventContext, first: Comment | None) -> None:
    if not ctx.enabled(Kind.NEW_TICKET_CONFIRMATION):
        return
    values = {**ctx.ticket_values, **placeholders.message_values(first)}
    # Linked to the customer's message: its delivery status shows on that comment.
    linked = [first.pk] if first is not None else []
    for recipient in _customers(ctx.ticket, collaborators=False):
        _queue(
            ctx,
            Kind.NEW_TICKET_CONFIRMATION,
            recipient,
            values,
            automatic=True,
            comment_ids=linked,
        )


def _customer_update(ctx, recipients: list[Recipient], change: dict, *, send_now: bool) -> None:
    """Fold the change into the recipient's waiting update, or start one (STYLE: debounce)."""
    delay = ctx.settings.debounce_seconds
    send_after = ctx.now if send_now or not delay else ctx.now + timedelta(seconds=delay)
    for recipient in recipients:
        waiting = _waiting_update(ctx.ticket, recipient.address) if delay else None
        if waiting is not None:
            _refold(ctx, waiting, recipient, change, send_after)
            continue
        update = _update_message(ctx, [change])
        if ctx.enabled(update.kind):
            _queue_update(ctx, recipient, update, send_after)


def _waiting_update(ticket: Ticket, address: str) -> OutgoingMessage | None:
    return (
        OutgoingMessage.objects.select_for_update()
        .filter(ticket=ticket, to_address=address, foldable=True, status=Status.PENDING)
        .order_by("-id")
        .first()
    )


@dataclass(frozen=True)
class UpdateMessage:
    kind: str
    changes: list[dict]
    values: dict
    comment_ids: list[int]
    attachment_ids: list[int]


def _update_message(ctx: EventContext, changes: list[dict]) -> UpdateMessage:
    """What a customer update says: every reply and status change in it, oldest first."""
    reply_ids = [c["comment_id"] for c in changes if c["type"] == "reply"]
    comments = ctx.comments(reply_ids)
    updates = [
        placeholders.reply_update(comments[c["comment_id"]])
        if c["type"] == "reply"
        else placeholders.status_update(c)
        for c in changes
        if c["type"] != "reply" or c["comment_id"] in comments
    ]
    agent = comments[reply_ids[-1]].author_name if reply_ids and reply_ids[-1] in comments else ""
    return UpdateMessage(
        kind=_update_kind(changes),
        changes=changes,
        values={**ctx.ticket_values, **placeholders.updates_values(updates, changes, agent)},
        comment_ids=[i for i in reply_ids if i in comments],
        attachment_ids=ctx.attachment_ids(reply_ids) if reply_ids else [],
    )


def _update_kind(changes: list[dict]) -> str:
    if any(c["type"] == "reply" for c in changes):
        return Kind.AGENT_REPLY
    last = [c for c in changes if c["type"] == "status"][-1]
    resolved = last.get("to_category") == StatusCategory.RESOLVED
    return Kind.TICKET_RESOLVED if resolved else Kind.STATUS_CHANGED


def _queue_update(ctx, recipient: Recipient, update: UpdateMessage, send_after) -> None:
    _queue(
        ctx,
        update.kind,
        recipient,
        update.values,
        automatic=update.kind != Kind.AGENT_REPLY,
        changes=update.changes,
        comment_ids=update.comment_ids,
        attachment_ids=update.attachment_ids,
        send_after=send_after,
    )


def _refold(ctx, row: OutgoingMessage, recipient: Recipient, change: dict, send_after) -> None:
    """Add a change to a waiting update: re-rendered whole, and the wait starts again."""
    update = _update_message(ctx, [*row.changes, change])
    automatic = update.kind != Kind.AGENT_REPLY
    rendered = _render(ctx, update.kind, {**update.values, "recipient_name": recipient.name})
    row.kind, row.automatic, row.changes = update.kind, automatic, update.changes
    row.subject, row.body_text, row.body_html = (
        rendered.subject,
        rendered.body_text,
        rendered.body_html,
    )
    row.headers = _headers(ctx, update.kind, row.to_address, automatic, exclude_id=row.pk)
    row.attachment_ids, row.send_after, row.updated_at = update.attachment_ids, send_after, ctx.now
    if not ctx.enabled(update.kind):
        row.status = Status.SUPPRESSED
        row.last_error = f"Not sent: “{Kind(update.kind).label}” mail is switched off."
    due = row.status == Status.PENDING and send_after <= ctx.now
    if due and ctx.claim:
        _claim_for_caller(ctx, row)  # the row is locked (_waiting_update): no one else has it
    row.save(update_fields=REFOLD_FIELDS)
    _link_comments(row, update.comment_ids)
    if due:
        ctx.due_now.append(row.pk)


REFOLD_FIELDS = [
    "kind",
    "automatic",
    "changes",
    "subject",
    "body_text",
    "body_html",
    "headers",
    "attachment_ids",
    "send_after",
    "updated_at",
    "status",
    "last_error",
    "claim_token",
    "claimed_at",
    "attempts",
    "first_attempt_at",
]


def _claim_for_caller(ctx: EventContext, row: OutgoingMessage) -> None:
    row.status, row.claim_token, row.claimed_at = Status.SENDING, ctx.token, ctx.now
    row.attempts, row.first_attempt_at = row.attempts + 1, row.first_attempt_at or ctx.now
    ctx.claimed.append(row)


# -- one outbox row ----------------------------------------------------------------------------


def _queue(
    ctx: EventContext,
    kind: str,
    recipient: Recipient,
    values: dict,
    *,
    automatic: bool,
    changes: list[dict] | None = None,
    comment_ids: list[int] = (),
    attachment_ids: list[int] = (),
    send_after: datetime | None = None,
) -> OutgoingMessage:
    """Render one message for one recipient and store it, withheld with the reason if unsafe."""
    withheld = _withheld(ctx, recipient, automatic)
    rendered = _render(ctx, kind, {**values, "recipient_name": recipient.name})
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
        headers=_headers(ctx, kind, recipient.address, automatic),
        message_id=make_message_id(ctx.organization.pk, ctx.ticket.pk),
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


def _store(ctx: EventContext) -> None:
    """Insert the event's new rows and their comment links: two statements for any number.

    With `claim`, the rows due now are stored already claimed (`sending`, the context's token).
    """
    if not ctx.queued:
        return
    due = [r for r, _ in ctx.queued if r.status == Status.PENDING and r.send_after <= ctx.now]
    if ctx.claim:
        for row in due:
            _claim_for_caller(ctx, row)
    OutgoingMessage.objects.bulk_create([row for row, _ in ctx.queued])
    links = [
        OutgoingMessageComment(organization=ctx.organization, message=row, comment_id=comment_id)
        for row, comment_ids in ctx.queued
        for comment_id in comment_ids
    ]
    OutgoingMessageComment.objects.bulk_create(links)
    ctx.due_now += [r.pk for r in due]
    ctx.queued.clear()


def _link_comments(row: OutgoingMessage, comment_ids: list[int]) -> None:
    known = set(row.comment_links.values_list("comment_id", flat=True))
    OutgoingMessageComment.objects.bulk_create(
        OutgoingMessageComment(organization_id=row.organization_id, message=row, comment_id=i)
        for i in comment_ids
        if i not in known
    )


def _withheld(ctx: EventContext, recipient: Recipient, automatic: bool) -> str:
    """Why this message must not be sent, or "" (loop safety, RFC 3834 section 2)."""
    address = recipient.address
    if safety.is_own_address(address, ctx.own_addresses):
        return "Not sent: this is one of our own addresses (it would loop back as a ticket)."
    if not automatic:
        return ""
    contact = recipient.contact
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


def _headers(ctx, kind: str, address: str, automatic: bool, *, exclude_id=None) -> dict:
    result = ctx.history.thread(address, exclude_id=exclude_id).headers()
    if automatic:
        result["Auto-Submitted"] = kinds.AUTO_SUBMITTED[kind]
        # Exchange and Outlook honour this instead of RFC 3834 ([MS-OXCMAIL] 2.2.3.2.20).
        result["X-Auto-Response-Suppress"] = "All"
    if kind in kinds.CUSTOMER_KINDS and ctx.reply_to:
        result["Reply-To"] = ctx.reply_to
    return result


def _reply_to(ctx: EventContext) -> str:
    """The tenant's reply address, plus-addressed with the ticket's token where it allows."""
    from inbound_mail.models import InboundAddress
    from inbound_mail.selectors import default_inbound_address

    custom = ctx.connection.reply_to_address.lower() if ctx.connection else ""
    inbound = (
        InboundAddress.objects.filter(address=custom).first()
        if custom
        else default_inbound_address()
    )
    if inbound is None:
        return custom
    if inbound.plus_addressing:
        return plus_address(inbound.address, make_token(ctx.organization.pk, ctx.ticket.pk))
    return inbound.address


def _render(ctx: EventContext, kind: str, values: dict) -> rendering.Rendered:
    """The tenant's template, or the default when it fails on this data; branded."""
    try:
        rendered = rendering.render(ctx.source(kind), values)
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


def branding_of(organization: Organization) -> rendering.Branding:
    logo_url = ""
    if organization.logo:
        path = reverse("outbound_mail:logo")
        version = hashlib.sha256(organization.logo.name.encode()).hexdigest()[:10]
        logo_url = organization_url(organization, f"{path}?v={version}")
    return rendering.Branding(
        name=delivery.display_name(organization),
        accent_color=rendering.safe_color(organization.accent_color),
        logo_url=logo_url,
        footer_text=organization.footer_text,
    )


# -- sending -----------------------------------------------------------------------------------


def outgoing_claim(
    *, now: datetime, limit: int = BATCH_SIZE, ids: list[int] | None = None
) -> tuple[str, list[OutgoingMessage]]:
    """Mark up to `limit` due rows `sending` under a fresh claim token (STYLE: claim first).

    PostgreSQL: rows another worker holds are skipped (SKIP LOCKED). SQLite: the transaction
    takes the write lock at BEGIN (IMMEDIATE), so claimers queue. Either way the UPDATE's
    `status = pending` condition lets only one claimer have a row.
    """
    token = uuid.uuid4().hex
    due = OutgoingMessage.objects.filter(status=Status.PENDING, send_after__lte=now)
    if ids is not None:
        # Named rows: one conditional UPDATE claims them (a row another worker is claiming
        # waits for its lock, then no longer matches `pending`).
        claimed = _mark_claimed(due.filter(pk__in=ids[:limit]), token, now)
    else:
        with transaction.atomic():
            pks = list(
                due.select_for_update(skip_locked=True)
                .order_by("send_after", "id")
                .values_list("pk", flat=True)[:limit]
            )
            claimed = _mark_claimed(due.filter(pk__in=pks), token, now) if pks else 0
    if not claimed:
        return token, []
    return token, list(OutgoingMessage.objects.filter(claim_token=token, status=Status.SENDING))


def _mark_claimed(rows, token: str, now: datetime) -> int:
    return rows.update(
        status=Status.SENDING,
        claim_token=token,
        claimed_at=now,
        attempts=F("attempts") + 1,
        first_attempt_at=Coalesce(F("first_attempt_at"), now),
        updated_at=now,
    )


def outgoing_send_due(
    *,
    organization: Organization,
    now: datetime,
    limit: int = BATCH_SIZE,
    ids: list[int] | None = None,
) -> int:
    """Claim the active tenant's due mail, send it outside any transaction, record each answer.

    Returns how many rows were claimed (a full batch means there may be more).
    """
    token, rows = outgoing_claim(now=now, limit=limit, ids=ids)
    if rows:
        _send(rows, delivery.sender_for(organization, selectors.smtp_connection()), token, now)
    return len(rows)


def outgoing_send_claimed(*, organization: Organization, queued: Queued, now: datetime) -> int:
    """Send the rows `notify_event(claim=True)` stored claimed, outside any transaction."""
    if queued.claimed:
        sender = delivery.sender_for(organization, queued.connection)
        _send(queued.claimed, sender, queued.token, now)
    return len(queued.claimed)


RECORD_EVERY = 10


def _send(rows: list[OutgoingMessage], sender, token: str, now: datetime) -> None:
    """Send claimed rows over one connection; failures are recorded at once, successes a few
    at a time in one statement (a worker dying before that records them sends them again,
    with the same Message-IDs, when the sweeper returns them)."""
    sent: list[tuple[OutgoingMessage, transport.Outcome]] = []
    for row in rows:
        outcome = _deliver(row, sender)
        if not outcome.ok:
            _record(row, outcome, token=token, now=now)
            continue
        sent.append((row, outcome))
        if len(sent) >= RECORD_EVERY:
            _record_sent(sent, token=token, now=now)
            sent = []
    if sent:
        _record_sent(sent, token=token, now=now)


def _record_sent(sent: list[tuple[OutgoingMessage, transport.Outcome]], *, token, now) -> None:
    def per_row(value):
        return Case(*[When(pk=row.pk, then=Value(value(o))) for row, o in sent], default=Value(""))

    OutgoingMessage.objects.filter(
        pk__in=[row.pk for row, _ in sent], status=Status.SENDING, claim_token=token
    ).update(
        status=Status.SENT,
        sent_at=now,
        provider_response=per_row(lambda o: o.response[:500]),
        provider_message_id=per_row(lambda o: o.provider_message_id[:255]),
        last_error="",
        updated_at=now,
    )


def _deliver(row: OutgoingMessage, sender: delivery.Sender) -> transport.Outcome:
    try:
        message = delivery.build(row, sender)
    except Exception as exc:  # an attachment the storage cannot read right now
        logger.exception("cannot build outgoing message %s", row.pk)
        return transport.Outcome(ok=False, temporary=True, response=transport.describe(exc))
    return sender.send(message)


def _record(row, outcome: transport.Outcome, *, token: str, now: datetime, retry=True) -> None:
    """Store the answer, if the row is still ours (the sweeper may have taken it back)."""
    mine = OutgoingMessage.objects.filter(pk=row.pk, status=Status.SENDING, claim_token=token)
    if outcome.ok:
        _record_sent([(row, outcome)], token=token, now=now)
    elif retry and outcome.temporary and now - (row.first_attempt_at or now) < RETRY_FOR:
        mine.update(
            status=Status.PENDING,
            send_after=now + retry_delay(row.attempts),
            claim_token="",
            last_error=f"Attempt {row.attempts} failed, will retry: {outcome.response}"[:2000],
            updated_at=now,
        )
    else:
        gave_up = " (gave up after a day of retries)" if retry and outcome.temporary else ""
        mine.update(
            status=Status.FAILED, last_error=f"{outcome.response}{gave_up}"[:2000], updated_at=now
        )


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 5, 10, 20, 40 minutes, ... then every 4 hours, until a day has passed."""
    return timedelta(minutes=BACKOFF_MINUTES[min(attempts, len(BACKOFF_MINUTES)) - 1])


def outgoing_sweep_stuck(*, now: datetime, stuck_after: timedelta = STUCK_AFTER) -> int:
    """Return rows left `sending` by a worker that died to `pending`; how many.

    At-least-once: if the worker died after the server accepted the message and before the
    row said so, it goes out again, with the same Message-ID, which clients deduplicate.
    """
    with scopes_disabled():  # one statement across tenants from beat; no row leaves it
        return OutgoingMessage.objects.filter(
            status=Status.SENDING, claimed_at__lt=now - stuck_after
        ).update(
            status=Status.PENDING,
            claim_token="",
            send_after=now,
            last_error="The worker stopped while sending; sent again.",
            updated_at=now,
        )


def outgoing_send_test(
    *, organization: Organization, to_address: str, user: User | None, now: datetime
) -> transport.Outcome:
    """Send a test message through the tenant's saved connection now; the server's answer.

    An outbox row like any other (claimed from the start), but not retried: the admin is
    waiting for the answer.
    """
    connection = selectors.smtp_connection(enabled_only=False)
    sender = delivery.sender_for(organization, connection)
    token = uuid.uuid4().hex
    row = OutgoingMessage.objects.create(
        organization=organization,
        kind=Kind.TEST,
        user=user,
        to_address=to_address.lower(),
        subject=f"Test email from {delivery.display_name(organization)}",
        body_text=f"This message tests how {organization.name} sends mail. No reply needed.\n",
        headers={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
        message_id=make_message_id(organization.pk, 0),
        status=Status.SENDING,
        claim_token=token,
        claimed_at=now,
        attempts=1,
        first_attempt_at=now,
        send_after=now,
        created_at=now,
        updated_at=now,
    )
    if sender.smtp is not None:
        transport.pool.discard(sender.smtp)  # test a fresh login, not a pooled session
    outcome = _deliver(row, sender)
    _record(row, outcome, token=token, now=now, retry=False)
    return outcome


# -- what the mail system tells us later ---------------------------------------------------------


@transaction.atomic
def outgoing_mark_bounced(
    *, organization: Organization, original_message_id: str, recipients: list[str], reason: str
) -> int:
    """Mark our message(s) with this Message-ID bounced; returns how many rows changed.

    Rows are per recipient, so the Message-ID alone names the row. The recipients narrow it
    when they match; a DSN often names the final mailbox after aliasing instead of the address
    we sent to, so when none match, every row of that Message-ID is the bounced one.
    """
    rows = OutgoingMessage.objects.filter(
        organization=organization, message_id=normalize_message_id(original_message_id)
    )
    wanted = {r.strip().lower() for r in recipients if r.strip()}
    if wanted and rows.filter(to_address__in=wanted).exists():
        rows = rows.filter(to_address__in=wanted)
    return rows.update(status=Status.BOUNCED, last_error=reason[:2000])


def outgoing_track(*, provider_message_id: str, event_type: str, description: str) -> int:
    """Apply an ESP's tracking event (delivered, bounced, complained) to our row; rows changed.

    ESP webhooks reach the platform host, where no tenant is active: the row is found by the
    ESP's message id, and its own tenant is entered to change it.
    """
    if not provider_message_id:
        return 0
    with scopes_disabled():  # find the one row the ESP names; it is changed in its own tenant
        row = (
            OutgoingMessage.objects.filter(provider_message_id=provider_message_id)
            .select_related("organization")
            .first()
        )
    if row is None:
        return 0
    with tenant_scope(row.organization), transaction.atomic():
        return _apply_tracking(row, event_type, description)


def _apply_tracking(row: OutgoingMessage, event_type: str, description: str) -> int:
    this = OutgoingMessage.objects.filter(pk=row.pk)
    if event_type == "delivered":
        return this.filter(status=Status.SENT).update(status=Status.DELIVERED)
    if event_type in ("bounced", "rejected"):
        _contact_undeliverable(row, f"bounced: {description}" if description else "bounced")
        return this.update(status=Status.BOUNCED, last_error=description or event_type)
    if event_type in ("complained", "unsubscribed"):
        _contact_undeliverable(row, f"{event_type}: the recipient asked for no more mail")
        return this.update(last_error=f"The recipient {event_type}. {description}".strip())
    return 0


def _contact_undeliverable(row: OutgoingMessage, reason: str) -> None:
    contact = row.contact or Contact.objects.filter(email=row.to_address).first()
    if contact is not None:
        ticket_services.contact_mark_undeliverable(contact=contact, reason=reason)


# -- the in-app list ---------------------------------------------------------------------------


def notification_mark_read(*, user: User, notification_id: int, now: datetime) -> Notification:
    """Mark one of the user's notifications read; DoesNotExist for anyone else's."""
    notification = Notification.objects.get(pk=notification_id, user=user)
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk).update(read_at=now)
        notification.read_at = now
    return notification


def notifications_mark_all_read(*, user: User, now: datetime) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=now)


# -- preferences and settings ------------------------------------------------------------------


@transaction.atomic
def preferences_save(*, organization: Organization, user: User, channels: dict[str, str]) -> None:
    """The agent's channel per kind; a kind set to the tenant's default keeps following it."""
    defaults = selectors.organization_defaults()
    for kind in kinds.AGENT_KINDS:
        channel = channels.get(kind, defaults[kind])
        mine = NotificationPreference.objects.filter(user=user, kind=kind)
        if channel == defaults[kind]:
            mine.delete()
        elif not mine.update(channel=channel):
            NotificationPreference.objects.create(
                organization=organization, user=user, kind=kind, channel=channel
            )


@transaction.atomic
def notification_defaults_save(*, organization: Organization, channels: dict[str, str]) -> None:
    for kind in kinds.AGENT_KINDS:
        NotificationDefault.objects.update_or_create(
            organization=organization,
            kind=kind,
            defaults={"channel": channels.get(kind, kinds.DEFAULT_CHANNEL)},
        )


def mail_settings_save(*, organization: Organization, **values) -> MailSettings:
    row = MailSettings.objects.filter(organization=organization).first()
    row = row or MailSettings(organization=organization)
    for name, value in values.items():
        setattr(row, name, value)
    row.save()
    return row


def smtp_connection_save(*, organization: Organization, **values) -> SmtpConnection:
    """Create or change the tenant's SMTP server; an empty password keeps the stored one."""
    row = SmtpConnection.objects.filter(organization=organization).first()
    row = row or SmtpConnection(organization=organization)
    password = values.pop("password", "")
    for name, value in values.items():
        setattr(row, name, value)
    if password:
        row.password = password
    row.save()
    if row.enabled:
        transport.pool.discard(delivery.smtp_config(row))
    return row


def template_save(
    *,
    organization: Organization,
    kind: str,
    subject: str,
    body_text: str,
    body_html: str,
    enabled: bool,
    user: User | None,
    now: datetime,
) -> EmailTemplate:
    """Store the tenant's template after proving it renders; TemplateError says why not."""
    source = rendering.Source(subject=subject, body_text=body_text, body_html=body_html)
    rendering.check(source, placeholders.sample_values(kind))
    row, _ = EmailTemplate.objects.update_or_create(
        organization=organization,
        kind=kind,
        defaults={
            "subject": subject,
            "body_text": body_text,
            "body_html": body_html,
            "enabled": enabled,
            "updated_at": now,
            "updated_by": user,
        },
    )
    return row


def template_reset(*, kind: str) -> None:
    EmailTemplate.objects.filter(kind=kind).delete()


def branding_save(
    *,
    organization: Organization,
    accent_color: str,
    sender_name: str,
    footer_text: str,
    logo=None,
    remove_logo: bool = False,
) -> Organization:
    """The tenant's look in every mail (and the portal)."""
    organization.accent_color = accent_color
    organization.sender_name = sender_name
    organization.footer_text = footer_text
    fields = ["accent_color", "sender_name", "footer_text"]
    if remove_logo and organization.logo:
        organization.logo.delete(save=False)
        fields.append("logo")
    elif logo is not None:
        organization.logo.save(logo.name, logo, save=False)
        fields.append("logo")
    organization.full_clean(exclude=["slug"])
    Organization.objects.filter(pk=organization.pk).update(
        **{f: getattr(organization, f) for f in fields}
    )
    return organization
