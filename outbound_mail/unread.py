"""When agents' unread in-app notices change: a signal sent after commit, which the live app
hears to push the new bell count to their open pages (outbound_mail knows nothing of live).

`unread_changed` carries `organization_id` and `user_ids` (sorted); it is sent when notices
are created (outbound_mail.services.notify) and when they are marked read
(outbound_mail.services.preferences)."""

from django.db import transaction
from django.dispatch import Signal

unread_changed = Signal()


def announce_unread(organization_id: int, user_ids: list[int]) -> None:
    """After commit, tell `unread_changed`'s receivers these users' unread counts changed."""
    if user_ids:
        users = sorted(set(user_ids))
        transaction.on_commit(
            lambda: unread_changed.send_robust(
                sender=None, organization_id=organization_id, user_ids=users
            )
        )
