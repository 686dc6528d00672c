"""Senders whose remote images always show (tickets.remote_images): remembered when an agent
asks on a message, removed by an admin on the settings page."""

from django.db import IntegrityError, transaction

from tenants.models import Organization, User
from tickets.models import RemoteImageSender


def image_sender_allow(
    *, organization: Organization, pattern: str, actor_user: User | None
) -> RemoteImageSender:
    """Show images from `pattern` (an address or a domain) from now on; idempotent."""
    pattern = pattern.strip().lower()
    existing = RemoteImageSender.objects.filter(pattern=pattern).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return RemoteImageSender.objects.create(
                organization=organization, pattern=pattern, created_by=actor_user
            )
    except IntegrityError:  # two agents asked at once: the other request's row stands
        return RemoteImageSender.objects.get(pattern=pattern)


def image_sender_remove(*, sender: RemoteImageSender) -> None:
    """Block the sender's images again (their messages show placeholders)."""
    sender.delete()
