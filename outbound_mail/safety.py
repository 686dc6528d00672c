"""Loop safety: automatic mail never goes where it could start or feed a mail loop.

RFC 3834 section 2 asks responders not to answer automatic mail, system addresses or lists; we
also never write to our own addresses (a tenant's support inbox would open a ticket from our
own confirmation). The cap on automatic mail per ticket and recipient, the last line of defence
against a loop these checks miss, counts from the ticket's history (threading.TicketHistory).
"""

import re

from django.conf import settings

# Local parts used by MTAs and bulk senders that never read replies (RFC 2142 names the roles).
SYSTEM_LOCAL_PARTS = frozenset(
    {
        "mailer-daemon",
        "mailer_daemon",
        "mailerdaemon",
        "maildaemon",
        "mail-daemon",
        "postmaster",
        "post_master",
        "listserv",
        "majordomo",
        "bounce",
        "bounces",
    }
)
NO_REPLY_RE = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply|noreply|bounces?)(?:[-_.+].*)?$"
)


def looks_automatic(address: str) -> bool:
    """mailer-daemon@, postmaster@, no-reply@, do-not-reply+x@, bounces-123@ and the like."""
    local = address.lower().rsplit("@", 1)[0].strip()
    return local in SYSTEM_LOCAL_PARTS or bool(NO_REPLY_RE.match(local))


def own_addresses(extra: tuple[str, ...] = ()) -> set[str]:
    """Addresses that are ours: the tenant's inbound addresses, our senders, our mail domain."""
    from inbound_mail.selectors import inbound_addresses

    ours = {a.lower() for a in inbound_addresses()}
    ours.add(settings.DEFAULT_FROM_EMAIL.lower())
    ours.update(a.lower() for a in extra if a)
    return ours


def is_own_address(address: str, ours: set[str]) -> bool:
    address = address.lower()
    local, _, domain = address.rpartition("@")
    # support+<token>@acme.test is still support@acme.test (plus addressing, RFC 5233).
    base = f"{local.split('+', 1)[0]}@{domain}"
    return address in ours or base in ours or domain == settings.MAIL_DOMAIN.lower()
