"""Signing contacts in to the portal: one-time sign-in links (asked for, mailed, consumed),
passwords (set, checked), and what a contact changes on their profile.

A link's token is shown only once, in the mail; the row keeps its SHA-256. Rows are tenant
rows, so a token is looked up only among the active tenant's links: on another tenant's host it
does not exist. An address that belongs to no contact gets no link and no contact is made for
it (signing in is for people who already wrote to the tenant; anyone else opens a ticket
through the contact form or by mail), and the caller answers the same either way.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import hashers
from django.db import transaction
from django.db.models import F

from outbound_mail.services.portal_mail import portal_link_send
from portal.models import MagicLink, PortalAccount
from tenants import throttle
from tenants.models import Organization
from tickets.models import Contact, ContactEmail

LINK_MINUTES = 15


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def contact_for_address(email: str) -> Contact | None:
    """The active tenant's contact with this primary or further address (as inbound mail
    finds the sender: tickets.services.contacts.contacts_for), or None."""
    email = email.strip().lower()
    if not email:
        return None
    contact = Contact.objects.filter(email=email).first()
    if contact is not None:
        return contact
    further = ContactEmail.objects.filter(email=email).select_related("contact").first()
    return further.contact if further is not None else None


def _link_account(organization: Organization, email: str) -> str:
    # One person may be a contact of two tenants: each tenant counts its own requests.
    return f"{organization.pk}:{email.strip().lower()}"


# -- sign-in links -----------------------------------------------------------------------------


def magic_link_request(
    *,
    organization: Organization,
    email: str,
    next_url: str,
    link_url,
    client_address: str | None,
    now: datetime,
) -> MagicLink | None:
    """Mail a sign-in link to the contact with this address; None (and nothing mailed) when
    no contact has it. Raises throttle.Throttled, known address or not, past the limits per
    address typed and per client address. `link_url(token)` makes the absolute URL; `next_url`
    must already be checked (tenants.redirects)."""
    throttle.attempt(
        throttle.MAGIC_LINK, account=_link_account(organization, email), address=client_address
    )
    contact = contact_for_address(email)
    if contact is None:
        return None
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        link = MagicLink.objects.create(
            organization=organization,
            contact=contact,
            token_hash=_hash(token),
            next_url=next_url if len(next_url) <= 500 else "",
            created_at=now,
            expires_at=now + timedelta(minutes=LINK_MINUTES),
        )
        portal_link_send(
            organization=organization,
            contact=contact,
            url=link_url(token),
            expires_minutes=LINK_MINUTES,
            to_address=email,
            now=now,
        )
    return link


class LinkInvalid(Exception):
    """A sign-in link that cannot sign anyone in here; `reason` is for the page."""

    UNKNOWN = "unknown"  # no such token on this tenant's host (another tenant's, or made up)
    EXPIRED = "expired"
    USED = "used"

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def magic_link_check(*, token: str, now: datetime) -> MagicLink:
    """The link this token names, if it can still sign in (a read: mail scanners open links
    without meaning to sign in); LinkInvalid otherwise."""
    link = MagicLink.objects.filter(token_hash=_hash(token)).first()
    if link is None:
        raise LinkInvalid(LinkInvalid.UNKNOWN)
    if link.used_at is not None:
        raise LinkInvalid(LinkInvalid.USED)
    if link.expires_at <= now:
        raise LinkInvalid(LinkInvalid.EXPIRED)
    return link


@dataclass(frozen=True)
class Consumed:
    account: PortalAccount  # the contact's portal account, made at their first sign-in
    next_url: str  # where they were going when they asked for the link ("" for nowhere)


@transaction.atomic
def magic_link_consume(*, organization: Organization, token: str, now: datetime) -> Consumed:
    """Use the link up; the account it signs in. One conditional UPDATE marks it used, so of
    two requests with the same link only one signs in; the other gets LinkInvalid(USED)."""
    link = magic_link_check(token=token, now=now)
    claimed = MagicLink.objects.filter(pk=link.pk, used_at__isnull=True, expires_at__gt=now).update(
        used_at=now
    )
    if claimed != 1:
        raise LinkInvalid(LinkInvalid.USED)
    account = portal_account_for(organization=organization, contact=link.contact)
    return Consumed(account=account, next_url=link.next_url)


def portal_account_for(*, organization: Organization, contact: Contact) -> PortalAccount:
    account, _ = PortalAccount.objects.get_or_create(organization=organization, contact=contact)
    return account


# -- passwords ---------------------------------------------------------------------------------


class SignInFailed(Exception):
    """The same answer for an unknown address, a contact without a password and a wrong one."""


def _sign_in_account(organization: Organization, email: str) -> str:
    # Apart from the agents' counters (the same address may be an agent's login too), and
    # per tenant like the links.
    return f"portal:{organization.pk}:{email.strip().lower()}"


def portal_password_sign_in(
    *, organization: Organization, email: str, password: str, client_address: str | None
) -> PortalAccount:
    """The account whose contact has this address and password; SignInFailed otherwise, or
    throttle.Throttled once the address typed or the client address failed too often."""
    account_key = _sign_in_account(organization, email)
    throttle.check(throttle.SIGN_IN, account=account_key, address=client_address)
    contact = contact_for_address(email)
    account = (
        PortalAccount.objects.select_related("contact").filter(contact=contact).first()
        if contact is not None
        else None
    )
    if account is None or not account.password:
        hashers.make_password(password)  # as long as a real check: the time tells nothing
        ok = False
    else:
        ok = hashers.check_password(password, account.password)
    if not ok or account is None:
        throttle.fail(throttle.SIGN_IN, account=account_key, address=client_address)
        throttle.check(throttle.SIGN_IN, account=account_key, address=client_address)
        raise SignInFailed
    throttle.succeed(throttle.SIGN_IN, account=account_key)
    return account


def portal_password_check(
    *, organization: Organization, account: PortalAccount, password: str, client_address
) -> bool:
    """Whether `password` is the account's current one (asked before changing it); failures
    count towards the sign-in limit of the contact's address."""
    account_key = _sign_in_account(organization, account.contact.email)
    throttle.check(throttle.SIGN_IN, account=account_key, address=client_address)
    if account.password and hashers.check_password(password, account.password):
        return True
    throttle.fail(throttle.SIGN_IN, account=account_key, address=client_address)
    return False


def portal_password_set(*, account: PortalAccount, password: str) -> PortalAccount:
    """Store the new password (the caller validated it) and end every other portal session
    of the contact: their epoch no longer matches (portal.auth)."""
    PortalAccount.objects.filter(pk=account.pk).update(
        password=hashers.make_password(password), session_epoch=F("session_epoch") + 1
    )
    account.refresh_from_db(fields=["password", "session_epoch"])
    return account


# -- the profile -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    name: str
    mail_replies: bool


def portal_profile_update(*, contact: Contact, profile: Profile) -> Contact:
    """What the contact changes about themselves: their name, and whether they get mail about
    each public reply and status change (outbound_mail withholds it otherwise)."""
    contact.name = profile.name.strip()[:200]
    contact.mail_replies = profile.mail_replies
    contact.save(update_fields=["name", "mail_replies"])
    return contact
