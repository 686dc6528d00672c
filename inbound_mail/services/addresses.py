"""Inbound addresses: the support addresses whose mail becomes a tenant's tickets.

A tenant claims only addresses on domains it owns (inbound_mail.domains says which). One on a
domain it has not verified waits as an AddressConfirmation until the signed code mailed to it
comes back, through intake (`address_confirm_from_mail`) or typed in by an admin
(`address_confirm_code`). One address, one tenant: the database's unique constraint on the
lower-cased address decides a race, and the loser gets the same answer as the form.
"""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction

from inbound_mail import domains
from inbound_mail.domains import ALREADY_IN_USE, address_refusal
from inbound_mail.models import AddressConfirmation, InboundAddress
from tenants.models import Organization, User
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)

# Addresses a tenant may have waiting for their confirmation mail at once.
MAX_WAITING = 10


class AddressRefused(ValidationError):
    """The tenant may not use this address; the message says why, for the form."""


@transaction.atomic
def inbound_address_add(
    *, organization: Organization, address: str, plus_addressing: bool = True
) -> InboundAddress:
    """A new support address on a domain the tenant owns; its first one becomes the default."""
    address = address.strip().lower()
    refusal = address_refusal(organization=organization, address=address)
    if refusal:
        raise AddressRefused(refusal)
    return _create(organization, address, plus_addressing)


def _create(organization: Organization, address: str, plus_addressing: bool) -> InboundAddress:
    first = not InboundAddress.objects.exists()
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction stays usable
            return InboundAddress.objects.create(
                organization=organization,
                address=address,
                plus_addressing=plus_addressing,
                is_default=first,
            )
    except IntegrityError:  # another tenant (or request) took it after the check
        raise AddressRefused(ALREADY_IN_USE) from None


@transaction.atomic
def inbound_address_make_default(*, address: InboundAddress) -> None:
    InboundAddress.objects.filter(is_default=True).exclude(pk=address.pk).update(is_default=False)
    InboundAddress.objects.filter(pk=address.pk).update(is_default=True)


@transaction.atomic
def inbound_address_remove(*, address: InboundAddress) -> None:
    was_default = address.is_default
    address.delete()
    successor = InboundAddress.objects.order_by("created_at", "id").first()
    if was_default and successor is not None:
        InboundAddress.objects.filter(pk=successor.pk).update(is_default=True)


# -- one address confirmed by mail -----------------------------------------------------------


@transaction.atomic
def address_confirmation_request(
    *,
    organization: Organization,
    address: str,
    plus_addressing: bool = True,
    requested_by: User | None = None,
) -> AddressConfirmation:
    """Mail a signed code to an address on a domain the tenant has not verified (again, when
    one is already waiting); the mail goes out after the commit."""
    address = address.strip().lower()
    refusal = address_refusal(organization=organization, address=address, confirmed_by_mail=True)
    if refusal:
        raise AddressRefused(refusal)
    waiting = AddressConfirmation.objects.exclude(address=address).count()
    if waiting >= MAX_WAITING:
        # The platform mails whatever address an admin types: a bound keeps it from being
        # used to send many strangers our mail.
        raise AddressRefused(
            f"{MAX_WAITING} addresses are already waiting for confirmation; cancel one first."
        )
    confirmation, _ = AddressConfirmation.objects.get_or_create(
        organization=organization,
        address=address,
        defaults={"plus_addressing": plus_addressing, "requested_by": requested_by},
    )
    message = _confirmation_mail(confirmation, organization)
    transaction.on_commit(lambda: _send(message))
    return confirmation


def _confirmation_mail(
    confirmation: AddressConfirmation, organization: Organization
) -> EmailMessage:
    code = domains.confirmation_code(confirmation)
    own = domains.tenant_platform_domains(organization)[0]
    body = (
        f"{organization.name} asked to receive the support mail sent to {confirmation.address}.\n\n"
        f"If mail to this address reaches the helpdesk (it is forwarded to an address at {own},\n"
        "or polled as a mailbox), this message confirms it on arrival. Otherwise an admin of\n"
        "that account can enter the code on the Inbound addresses page.\n\n"
        f"Confirmation code: {code}\n\n"
        "If you did not expect this, ignore it: nothing changes without the code.\n"
    )
    return EmailMessage(
        subject=f"Confirm {confirmation.address} for {organization.name} [{code}]",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[confirmation.address],
        # RFC 3834: machine-made; autoresponders must not answer it.
        headers={"Auto-Submitted": "auto-generated"},
    )


def _send(message: EmailMessage) -> None:
    # Through the platform's connection, outside any transaction; a failure leaves the request
    # waiting, and asking again sends the mail again.
    try:
        message.send(fail_silently=False)
    except Exception:  # any transport error: the request stays and can be sent again
        logger.exception("address confirmation mail to %s failed", message.to)


@transaction.atomic
def address_confirm_code(*, organization: Organization, code: str) -> InboundAddress:
    """An admin typed the code from the confirmation mail."""
    found = domains.find_code(code.strip().lower())
    confirmation = domains.confirmation_for(found) if found else None
    if confirmation is None or confirmation.organization_id != organization.pk:
        raise AddressRefused("This code is not valid (or has expired); ask for a new mail.")
    return _confirm(confirmation)


def _confirm(confirmation: AddressConfirmation) -> InboundAddress:
    organization = confirmation.organization
    refusal = address_refusal(
        organization=organization, address=confirmation.address, confirmed_by_mail=True
    )
    if refusal:
        raise AddressRefused(refusal)
    address = _create(organization, confirmation.address, confirmation.plus_addressing)
    AddressConfirmation.objects.filter(pk=confirmation.pk).delete()
    return address


def address_confirm_from_mail(
    *, raw: bytes, subject: str, recipients: list[str], owners: list[Organization]
) -> tuple[Organization, str] | None:
    """(tenant, address) when this arriving message is a valid confirmation, now applied.

    Runs in intake's transaction. It counts only when it reached the platform addressed to the
    address it confirms, and through nobody else's door: routed to the requesting tenant (its
    forwarding address, its mailbox) or to no tenant at all; mail that came in for another
    tenant confirms nothing for this one.
    """
    head = raw[: domains.CODE_SCAN_BYTES]
    # Most mail carries no code: one substring test, no decoding and no query for it.
    in_body = b"hdconfirm-" in head
    code = domains.find_code(subject) or (
        domains.find_code(head.decode("ascii", "replace")) if in_body else None
    )
    confirmation = domains.confirmation_for(code) if code else None
    if confirmation is None or confirmation.address not in {r.lower() for r in recipients}:
        return None
    organization = confirmation.organization
    if any(o.pk != organization.pk for o in owners):
        return None
    with tenant_scope(organization):
        try:
            _confirm(confirmation)
        except AddressRefused as refused:
            logger.info("confirmation of %s refused: %s", confirmation.address, refused.message)
            return None
    return organization, confirmation.address


@transaction.atomic
def address_confirmation_cancel(*, confirmation: AddressConfirmation) -> None:
    confirmation.delete()
