"""Domain events become in-app notifications and outbox rows: who hears each event, through
which channel (the agent's preference or the tenant's default), and what it says."""

from datetime import datetime

from django.db import transaction

from outbound_mail import kinds, placeholders, selectors
from outbound_mail.kinds import Channel, Kind
from outbound_mail.models import MailSettings, Notification
from outbound_mail.services import automation_mail, forwarding, outbox
from outbound_mail.services.customer_updates import customer_update
from outbound_mail.services.outbox import EventContext, Queued, Recipient
from outbound_mail.unread import announce_unread
from tenants.hosts import organization_url
from tenants.models import Membership, Organization, TeamMember, User
from tickets import events
from tickets.models import Comment, Follower, Ticket


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
        outbox.store(ctx)
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
        customer_update(ctx, _customers(ctx.ticket, collaborators=True), change, send_now=False)
    _agent_alert(ctx, Kind.NEW_TICKET_ALERT, _alert_users(ctx), comment=first, members=True)


def _on_comment_added(ctx: EventContext) -> None:
    comment_id = ctx.data.get("comment_id")
    comment = ctx.comments([comment_id]).get(comment_id) if comment_id is not None else None
    if comment is None or not comment.is_public:
        return  # internal notes never reach customers
    if comment.author_user_id:
        change = {"type": "reply", "comment_id": comment.pk}
        customers = _customers(ctx.ticket, collaborators=True) + _bcc(comment)
        customer_update(ctx, customers, change, send_now=bool(ctx.data.get("send_now")))
    elif comment.author_contact_id:
        users = _assignee_and_followers(ctx, fallback=_alert_users)
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
    customer_update(ctx, _customers(ctx.ticket, collaborators=False), change, send_now=False)


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
        users = _assignee_and_followers(ctx, fallback=_unassigned_sla_recipients)
        if ticket.team_id:
            managers = TeamMember.objects.filter(team_id=ticket.team_id, is_manager=True)
            users += [m.user for m in managers.select_related("user")]
        extra = placeholders.sla_values(ctx.data, ctx.organization.timezone)
        _agent_alert(ctx, kind, users, extra=extra)

    return handler


def _unassigned_sla_recipients(ctx: EventContext) -> list[User]:
    """Nobody owns the ticket: its team hears of the deadline, or the tenant's admins when it
    has no team either (a deadline nobody hears of is missed for certain)."""
    members = Membership.objects.filter(user__is_active=True)
    if ctx.ticket.team_id:
        team = TeamMember.objects.filter(team_id=ctx.ticket.team_id).values("user_id")
        members = members.filter(user_id__in=team)
    else:
        members = members.filter(role=Membership.ADMIN)
    return [m.user for m in members.select_related("user").order_by("user_id")]


def _on_staff_mail_unverified(ctx: EventContext) -> None:
    """Tell the agent named in unverified mail (a security notice: no preference mutes it)."""
    user_id = ctx.data.get("user_id")
    if not isinstance(user_id, int):
        return
    member = (
        Membership.objects.filter(user_id=user_id, user__is_active=True)
        .select_related("user")
        .first()
    )
    if member is None:
        return
    user = member.user
    values = {
        **ctx.ticket_values,
        "ticket_url": organization_url(ctx.organization, f"/agent/tickets/{ctx.ticket.number}/"),
        "sender_address": str(ctx.data.get("from", "")),
        "mail_subject": str(ctx.data.get("subject", "")),
    }
    recipient = Recipient(user.email.lower(), user.display_name, user=user)
    outbox.queue(ctx, Kind.STAFF_MAIL_UNVERIFIED, recipient, values, automatic=True)


def _on_staff_reply_held(ctx: EventContext) -> None:
    """Tell the agent their reply by mail was held (tickets.services.send_guard), with the
    link that sends it: mail and the bell, whatever their preferences (the reply waits for it)."""
    user_id, comment_id = ctx.data.get("user_id"), ctx.data.get("comment_id")
    if not isinstance(user_id, int) or not isinstance(comment_id, int):
        return
    member = Membership.objects.filter(user_id=user_id, user__is_active=True)
    user = next((m.user for m in member.select_related("user")), None)
    held = ctx.comments([comment_id]).get(comment_id)
    if user is None or held is None or not held.held_reason:
        return  # not a member any more, or the reply was sent or removed since
    newer_ids = [i for i in ctx.data.get("newer_ids", []) if isinstance(i, int)]
    newer = [c for c in ctx.comments(newer_ids).values() if c.is_public]
    zone = ctx.organization.timezone
    values = {
        **ctx.ticket_values,
        **placeholders.held_reply_values(ctx.ticket, held, newer, zone),
    }
    recipient = Recipient(user.email.lower(), user.display_name, user=user)
    outbox.queue(ctx, Kind.STAFF_REPLY_HELD, recipient, values, automatic=True)
    notice = _notification(ctx, Kind.STAFF_REPLY_HELD, user, values, Channel.BOTH)
    Notification.objects.bulk_create([notice])
    announce_unread(ctx.organization.pk, [user.pk])


def _on_automation_notify(ctx: EventContext) -> None:
    """The agents a rule (or a macro) named hear its message, after their preferences."""
    ids = [i for i in ctx.data.get("user_ids", []) if isinstance(i, int)]
    users = list(User.objects.filter(pk__in=ids))
    extra = automation_mail.notice_values(ctx)
    _agent_alert(ctx, Kind.AUTOMATION_NOTICE, users, extra=extra)


HANDLERS = {
    events.TICKET_CREATED: _on_ticket_created,
    events.COMMENT_ADDED: _on_comment_added,
    events.STATUS_CHANGED: _on_status_changed,
    events.ASSIGNED: _on_assigned,
    events.STAFF_MAIL_UNVERIFIED: _on_staff_mail_unverified,
    events.STAFF_REPLY_HELD: _on_staff_reply_held,
    events.TICKET_FORWARDED: forwarding.on_forwarded,
    events.AUTOMATION_MAIL: automation_mail.on_mail,
    events.AUTOMATION_NOTIFY: _on_automation_notify,
    kinds.SLA_WARNING: _on_sla(Kind.SLA_WARNING),
    kinds.SLA_BREACHED: _on_sla(Kind.SLA_BREACH),
}


# -- who hears it ------------------------------------------------------------------------------


def _customers(ticket: Ticket, *, collaborators: bool) -> list[Recipient]:
    contacts = [ticket.requester]
    if collaborators:
        contacts += list(ticket.collaborators.order_by("id"))
    return [Recipient(c.email.lower(), c.name, contact=c) for c in contacts]


def _bcc(comment: Comment) -> list[Recipient]:
    """A reply's Bcc: each address its own message, named in no one else's."""
    bcc = (comment.recipients or {}).get("bcc", [])
    return [Recipient(address, "") for address in bcc if isinstance(address, str)]


def _assignee_and_followers(ctx: EventContext, *, fallback) -> list[User]:
    """Who hears what the assignee hears: the assignee (or `fallback(ctx)` when there is none)
    and the ticket's followers. `_agent_alert` keeps each person once, drops whoever acted and
    applies each one's preferences."""
    ticket = ctx.ticket
    users = [ticket.assignee] if ticket.assignee is not None else fallback(ctx)
    followers = Follower.objects.filter(ticket_id=ticket.pk, user__is_active=True)
    return users + [f.user for f in followers.select_related("user").order_by("user_id")]


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
            outbox.queue(ctx, kind, recipient, values, automatic=True)
    Notification.objects.bulk_create(in_app)
    announce_unread(ctx.organization.pk, [n.user_id for n in in_app if n.read_at is None])


TITLES = {
    Kind.NEW_TICKET_ALERT: "New ticket #{ticket_number}: {ticket_subject}",
    Kind.CUSTOMER_REPLY: "{actor_name} replied on #{ticket_number}: {ticket_subject}",
    Kind.ASSIGNMENT: "#{ticket_number} assigned to you: {ticket_subject}",
    Kind.SLA_WARNING: "SLA warning on #{ticket_number}: {sla_target} due {sla_due_at}",
    Kind.SLA_BREACH: "SLA breached on #{ticket_number}: {sla_target} was due {sla_due_at}",
    Kind.AUTOMATION_NOTICE: "{rule_label} “{rule_name}” on #{ticket_number}: {ticket_subject}",
    Kind.STAFF_REPLY_HELD: "Your reply on #{ticket_number} was held: a newer reply exists",
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
        outbox.queue(
            ctx,
            Kind.NEW_TICKET_CONFIRMATION,
            recipient,
            values,
            automatic=True,
            comment_ids=linked,
        )
