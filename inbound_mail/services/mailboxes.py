"""IMAP mailboxes: testing a connection, polling (fetch, store, commit, then acknowledge),
which mailboxes are due, and saving an admin's edits.
"""

import logging
from datetime import timedelta
from typing import cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_scopes import scopes_disabled

from inbound_mail import imap
from inbound_mail.models import Mailbox
from inbound_mail.services.intake import inbound_receive_many

logger = logging.getLogger(__name__)

POLL_CLAIM = timedelta(minutes=5)
# Per poll; the rest waits for the next minute so one full mailbox cannot hold a worker.
MAX_BATCHES_PER_POLL = 20


def imap_settings(mailbox: Mailbox) -> imap.ImapSettings:
    return imap.ImapSettings(
        host=mailbox.host,
        port=mailbox.port,
        # The field's choices are imap.Security; ImapSettings checks the value again.
        security=cast(imap.Security, mailbox.security),
        username=mailbox.username,
        password=mailbox.password,
        folder=mailbox.folder or "INBOX",
        allow_private=settings.INBOUND_IMAP_ALLOW_PRIVATE_HOSTS,
    )


def mailbox_test(*, mailbox: Mailbox) -> tuple[bool, str]:
    """Log in and open the folder; (worked, the server's words or what went wrong)."""
    try:
        return True, imap.test_connection(imap_settings(mailbox))
    except imap.ImapError as exc:
        return False, str(exc)


def mailbox_poll(*, mailbox_id: int) -> int | None:
    """Fetch what is new, store it, commit, then acknowledge it on the server.

    Returns how many messages were stored, or None when the mailbox is disabled or another
    poll holds it. Errors are kept on the mailbox (shown to admins), never raised.
    """
    mailbox = _claim_mailbox(mailbox_id)
    if mailbox is None:
        return None
    stored = 0
    try:
        connection = imap_settings(mailbox)
        _acknowledge_pending(mailbox, connection)
        for _batch in range(MAX_BATCHES_PER_POLL):
            count, more = _poll_batch(mailbox, connection)
            stored += count
            if not more:
                break
    except imap.ImapError as exc:
        _poll_failed(mailbox, str(exc))
    except Exception as exc:
        logger.exception("polling mailbox %s failed", mailbox_id)
        _poll_failed(mailbox, f"Unexpected error: {type(exc).__name__}: {exc}")
    else:
        _poll_succeeded(mailbox)
    return stored


def _claim_mailbox(mailbox_id: int) -> Mailbox | None:
    now = timezone.now()
    claimed = (
        Mailbox.objects.filter(pk=mailbox_id, enabled=True)
        .exclude(polling_until__gt=now)
        .update(polling_until=now + POLL_CLAIM)
    )
    return Mailbox.objects.select_related("organization").get(pk=mailbox_id) if claimed else None


def _poll_batch(mailbox: Mailbox, imap_connection: imap.ImapSettings) -> tuple[int, bool]:
    result = imap.fetch_new(
        imap_connection, last_uid=mailbox.last_uid, uidvalidity=mailbox.uidvalidity
    )
    uids = [m.uid for m in result.messages]
    if result.uidvalidity_changed:
        mailbox.pending_ack = []  # those UIDs name nothing any more (RFC 3501 2.3.1.1)
    # The batch and the new position commit together (one durable commit, not one per
    # message); only then does the server hear about it.
    with transaction.atomic():
        raws = [fetched.raw for fetched in result.messages]
        inbound_receive_many(raws=raws, source="imap", mailbox=mailbox)
        mailbox.last_uid, mailbox.uidvalidity = result.last_uid, result.uidvalidity
        mailbox.pending_ack = sorted(set(mailbox.pending_ack) | set(uids))
        mailbox.save(update_fields=["last_uid", "uidvalidity", "pending_ack"])
    _acknowledge_pending(mailbox, imap_connection)
    return len(uids), result.has_more


def _acknowledge_pending(mailbox: Mailbox, connection: imap.ImapSettings) -> None:
    if not mailbox.pending_ack:
        return
    # The field's choices are imap.Action; acknowledge checks the value again.
    action = cast(imap.Action, mailbox.after_intake)
    imap.acknowledge(connection, mailbox.pending_ack, action, mailbox.move_to)
    mailbox.pending_ack = []
    mailbox.save(update_fields=["pending_ack"])


def _poll_succeeded(mailbox: Mailbox) -> None:
    now = timezone.now()
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_polled_at=now, last_error="", polling_until=None
    )


def _poll_failed(mailbox: Mailbox, error: str) -> None:
    now = timezone.now()
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_polled_at=now, last_error=error[:2000], last_error_at=now, polling_until=None
    )


def mailboxes_due() -> list[tuple[int, int]]:
    """(organization_id, mailbox_id) of every enabled mailbox, for the minute's polls."""
    # Beat serves every tenant: it reads ids only and queues one tenant task per mailbox.
    with scopes_disabled():  # ids of every tenant's mailboxes
        return list(
            Mailbox.objects.filter(enabled=True).values_list("organization_id", "pk").order_by("pk")
        )


# -- mailboxes (settings) --------------------------------------------------------------------


def mailbox_save(*, mailbox: Mailbox) -> Mailbox:
    """Save an admin's edit; a changed server, user or folder starts over (new UIDs)."""
    if mailbox.pk:
        old = Mailbox.objects.get(pk=mailbox.pk)
        if (old.host, old.username, old.folder) != (mailbox.host, mailbox.username, mailbox.folder):
            mailbox.last_uid, mailbox.uidvalidity, mailbox.pending_ack = 0, None, []
    mailbox.save()
    return mailbox


def mailbox_delete(*, mailbox: Mailbox) -> None:
    mailbox.delete()
