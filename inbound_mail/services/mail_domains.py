"""Custom mail domains: a tenant adds one, proves it by a DNS TXT record, or removes it.

Adding proves nothing (several tenants may add the same name); verifying does, and only one
tenant can hold a domain verified (the database's partial unique constraint decides a race).
"""

import secrets

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from inbound_mail import domains
from inbound_mail.models import InboundAddress, MailDomain
from tenants.models import Organization

TAKEN = "{domain} is already verified by another account."


class DomainRefused(ValidationError):
    """The domain cannot be added, verified or removed; the message says why."""


@transaction.atomic
def mail_domain_add(*, organization: Organization, domain: str) -> MailDomain:
    domain = domain.strip().lower().rstrip(".")
    if domains.under_platform(domain):
        raise DomainRefused(
            f"{domain} belongs to the platform: this account's platform addresses need no "
            "verification, other ones cannot be added."
        )
    if MailDomain.objects.filter(domain=domain).exists():
        raise DomainRefused(f"{domain} is already on the list.")
    if domains.verified_owner_id(domain) is not None:
        raise DomainRefused(TAKEN.format(domain=domain))
    try:
        with transaction.atomic():  # a savepoint: a second request may add it at once
            return MailDomain.objects.create(
                organization=organization, domain=domain, token=secrets.token_hex(16)
            )
    except IntegrityError:
        raise DomainRefused(f"{domain} is already on the list.") from None


@transaction.atomic
def mail_domain_verify(*, mail_domain: MailDomain) -> bool:
    """Look the TXT record up now; True when it verified the domain (or it already was)."""
    now = timezone.now()
    MailDomain.objects.filter(pk=mail_domain.pk).update(last_checked_at=now)
    if mail_domain.verified:
        return True
    if not domains.txt_verifies(mail_domain):
        return False
    owner = domains.verified_owner_id(mail_domain.domain)
    if owner is not None and owner != mail_domain.organization_id:
        raise DomainRefused(TAKEN.format(domain=mail_domain.domain))
    try:
        with transaction.atomic():  # a savepoint: the check above can lose a race
            MailDomain.objects.filter(pk=mail_domain.pk).update(verified=True, verified_at=now)
    except IntegrityError:
        raise DomainRefused(TAKEN.format(domain=mail_domain.domain)) from None
    return True


@transaction.atomic
def mail_domain_remove(*, mail_domain: MailDomain) -> None:
    """Remove a domain; a verified one only once none of the tenant's addresses is on it."""
    in_use = InboundAddress.objects.filter(address__iendswith="@" + mail_domain.domain).exists()
    if mail_domain.verified and in_use:
        raise DomainRefused(f"Remove the addresses at {mail_domain.domain} first.")
    mail_domain.delete()
