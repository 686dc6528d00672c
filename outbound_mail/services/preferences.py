"""What agents hear and what they have read: their channel per kind, the tenant's defaults,
and the in-app notification list."""

from datetime import datetime

from django.db import transaction

from outbound_mail import kinds, selectors
from outbound_mail.models import Notification, NotificationDefault, NotificationPreference
from outbound_mail.unread import announce_unread
from tenants.models import Organization, User
from tenants.scoping import active_organization_id

# -- the in-app list ---------------------------------------------------------------------------


def notification_mark_read(*, user: User, notification_id: int, now: datetime) -> Notification:
    """Mark one of the user's notifications read; DoesNotExist for anyone else's."""
    notification = Notification.objects.get(pk=notification_id, user=user)
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk).update(read_at=now)
        notification.read_at = now
        announce_unread(notification.organization_id, [user.pk])
    return notification


def notifications_mark_all_read(*, user: User, now: datetime) -> int:
    marked = Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=now)
    organization_id = active_organization_id()
    if marked and organization_id is not None:
        announce_unread(organization_id, [user.pk])
    return marked


# -- preferences -------------------------------------------------------------------------------


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
