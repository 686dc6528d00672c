"""Reads for outgoing mail: threading lookups for the inbound side, settings, templates, lists."""

from datetime import datetime

from django.db.models import Max
from django_scopes import scopes_disabled

from outbound_mail.kinds import AGENT_KINDS, DEFAULT_CHANNEL, DISABLED_BY_DEFAULT
from outbound_mail.models import (
    EmailTemplate,
    MailSettings,
    Notification,
    NotificationDefault,
    NotificationPreference,
    OutgoingMessage,
    SmtpConnection,
)
from outbound_mail.rendering import Source, default_source
from tenants.models import Membership


def normalize_message_id(value: str) -> str:
    """`<a@b>` and ` a@b ` are the same id; stored without angle brackets (as Comment)."""
    return (value or "").strip().strip("<>").strip()


def ticket_id_for_message_ids(ids: list[str]) -> int | None:
    """The ticket of the active tenant that we sent one of these Message-IDs for, or None.

    Indexed on (organization, message_id). When several match, the latest message wins.
    """
    return latest_ticket_id(sent_message_tickets(ids), ids)


def sent_message_tickets(ids: list[str]) -> dict[str, tuple[int, int]]:
    """Message-ID -> (outgoing message id, ticket id) for the ids we sent with a ticket (one
    query for any number of ids; the inbound batch asks for many messages at once)."""
    wanted = {normalize_message_id(i) for i in ids} - {""}
    if not wanted:
        return {}
    rows = OutgoingMessage.objects.filter(message_id__in=wanted, ticket__isnull=False)
    found: dict[str, tuple[int, int]] = {}
    for message_id, pk, ticket_id in rows.values_list("message_id", "pk", "ticket_id"):
        found[message_id] = max(found.get(message_id, (0, 0)), (pk, ticket_id))
    return found


def sent_entries(ticket_id: int, ids: list[str]) -> list[tuple[datetime, int | None]]:
    """Mail we sent on this ticket with one of these Message-IDs, as what its reader saw: when
    we wrote it, and the newest comment it carried (None: a notice that carries none). The
    send guard asks which entry an agent's reply by mail answers (inbound_mail.send_guard)."""
    wanted = {normalize_message_id(i) for i in ids} - {""}
    if not wanted:
        return []
    rows = OutgoingMessage.objects.filter(ticket_id=ticket_id, message_id__in=wanted)
    rows = rows.annotate(newest=Max("comment_links__comment_id"))
    return [(row.created_at, row.newest) for row in rows.only("created_at")]


def latest_ticket_id(sent: dict[str, tuple[int, int]], ids: list[str]) -> int | None:
    """Of these ids, the ticket of the one we sent last."""
    hits = [sent[key] for key in {normalize_message_id(i) for i in ids} if key in sent]
    return max(hits)[1] if hits else None


# -- the tenant's settings -------------------------------------------------------------------


def mail_settings() -> MailSettings:
    """The active tenant's settings row, or an unsaved one with the defaults."""
    return MailSettings.objects.first() or MailSettings()


def smtp_connection(*, enabled_only: bool = True) -> SmtpConnection | None:
    qs = SmtpConnection.objects.all()
    if enabled_only:
        qs = qs.filter(enabled=True)
    return qs.first()


def template_row(kind: str) -> EmailTemplate | None:
    return EmailTemplate.objects.filter(kind=kind).first()


def template_source(kind: str) -> Source:
    """The tenant's template for `kind`, else the shipped default."""
    return source_of(kind, template_row(kind))


def source_of(kind: str, row: EmailTemplate | None) -> Source:
    if row is None:
        return default_source(kind)
    return Source(subject=row.subject, body_text=row.body_text, body_html=row.body_html)


def template_enabled(kind: str) -> bool:
    return enabled_of(kind, template_row(kind))


def enabled_of(kind: str, row: EmailTemplate | None) -> bool:
    return row.enabled if row is not None else kind not in DISABLED_BY_DEFAULT


def channels_for(user_ids: list[int], kind: str) -> dict[int, str]:
    """Each user's channel for `kind`: their own choice, else the tenant's default."""
    default = (
        NotificationDefault.objects.filter(kind=kind).values_list("channel", flat=True).first()
        or DEFAULT_CHANNEL
    )
    chosen = dict(
        NotificationPreference.objects.filter(kind=kind, user_id__in=user_ids).values_list(
            "user_id", "channel"
        )
    )
    return {uid: chosen.get(uid, default) for uid in user_ids}


def organization_defaults() -> dict[str, str]:
    saved = dict(NotificationDefault.objects.values_list("kind", "channel"))
    return {kind: saved.get(kind, DEFAULT_CHANNEL) for kind in AGENT_KINDS}


def user_preferences(user) -> dict[str, str]:
    """The agent's channel per kind, with the tenant's default where they chose nothing."""
    defaults = organization_defaults()
    saved = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "channel"))
    return {kind: saved.get(kind, defaults[kind]) for kind in AGENT_KINDS}


def is_member(address: str) -> bool:
    return Membership.objects.filter(user__email__iexact=address.strip()).exists()


# -- the in-app list ---------------------------------------------------------------------------


def notifications_for(user, *, limit: int = 50) -> list[Notification]:
    return list(
        Notification.objects.filter(user=user)
        .select_related("ticket")
        .order_by("-created_at", "-id")[:limit]
    )


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


# -- the outbox ------------------------------------------------------------------------------


def due_organization_ids(now) -> list[int]:
    """Tenants with mail due now; beat asks across tenants, so scopes are lifted for this."""
    with scopes_disabled():  # only ids leave this function; each tenant is entered to send
        return list(
            OutgoingMessage.objects.filter(
                status=OutgoingMessage.Status.PENDING, send_after__lte=now
            )
            .values_list("organization_id", flat=True)
            .distinct()
            .order_by()
        )
