"""The tenant's DKIM keys: which domain its mail comes from, generating a key, switching a new one
on (which retires the old), switching signing off, and checking the published DNS records.

DNS is looked up on request only (the settings page's "Check DNS"), with a deadline shared by
all its lookups, and every failure is an answer on the page: not found, does not match, or DNS
could not be reached.
"""

import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr

import dns.exception
import dns.resolver
from django.conf import settings
from django.db import transaction
from django.db.models import Q

from outbound_mail import delivery, dkim_keys
from outbound_mail.dkim_keys import DnsRecord
from outbound_mail.models import DkimKey, SmtpConnection
from tenants.models import Organization, User

State = DkimKey.State
LOOKUP_SECONDS = 3.0  # one lookup
CHECK_SECONDS = 6.0  # all lookups of one check together


# -- where the tenant's mail comes from ------------------------------------------------------------


@dataclass(frozen=True)
class MailOrigin:
    """The From address a key is for, and the server that hands that mail to the world."""

    address: str
    domain: str
    sending_host: str  # "" when an ESP sends it (Django's EMAIL_BACKEND through anymail)
    own_server: bool  # the tenant's own SMTP server is saved (switched on or not yet)
    own_server_enabled: bool
    # We put the DKIM-Signature on what we hand to an SMTP server; an ESP signs its own way.
    signed_by_us: bool


def mail_origin(*, organization: Organization) -> MailOrigin:
    connection = SmtpConnection.objects.filter(organization=organization).first()
    if connection is not None:
        address = connection.from_address
        domain = dkim_keys.address_domain(address)
        return MailOrigin(address, domain, connection.host, True, connection.enabled, True)
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    platform = delivery.platform_smtp_config()
    return MailOrigin(
        address=address,
        domain=dkim_keys.address_domain(address),
        sending_host=platform.host if platform is not None else "",
        own_server=False,
        own_server_enabled=False,
        signed_by_us=platform is not None,
    )


def default_selector(*, now: datetime, domain: str, taken: set[str]) -> str:
    """hd<yyyymm>, with a letter after it when this month's is taken: hd203001, hd203001b, ..."""
    base = f"hd{now:%Y%m}"
    for suffix in ["", *"bcdefghijklmnopqrstuvwxyz"]:
        if f"{base}{suffix}._domainkey.{domain}" not in taken:
            return base + suffix
    return f"hd{now:%Y%m%d%H%M%S}"


# -- keys ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    active: DkimKey | None
    pending: DkimKey | None
    retired: DkimKey | None  # the most recent, whose record may still be published


def dkim_keys_current(*, organization: Organization) -> Keys:
    """The tenant's keys without their private halves (the page never needs them), one query."""
    latest_retired = (
        DkimKey.objects.filter(organization=organization, state=State.RETIRED)
        .order_by("-retired_at", "-id")
        .values("pk")[:1]
    )
    rows = list(
        DkimKey.objects.filter(organization=organization)
        .filter(Q(state__in=[State.ACTIVE, State.PENDING]) | Q(pk__in=latest_retired))
        .defer("private_key")
    )
    by_state = {row.state: row for row in rows}
    return Keys(
        by_state.get(State.ACTIVE), by_state.get(State.PENDING), by_state.get(State.RETIRED)
    )


def taken_names(*, organization: Organization) -> set[str]:
    """Record names (<selector>._domainkey.<domain>) of the active and earlier keys: a new key
    needs one of its own, so that both records can be published side by side while mail
    signed with the old key is still on its way."""
    rows = (
        DkimKey.objects.filter(organization=organization)
        .exclude(state=State.PENDING)
        .values_list("selector", "domain")
    )
    return {f"{selector}._domainkey.{domain}" for selector, domain in rows}


@transaction.atomic
def dkim_key_generate(
    *, organization: Organization, domain: str, selector: str, user: User | None, now: datetime
) -> DkimKey:
    """Make a new key pair, waiting to be switched on; a key already waiting is replaced (it
    never signed anything)."""
    pair = dkim_keys.generate_key_pair()
    DkimKey.objects.filter(organization=organization, state=State.PENDING).delete()
    return DkimKey.objects.create(
        organization=organization,
        domain=domain,
        selector=selector,
        private_key=pair.private_pem,
        public_key=pair.public_b64,
        state=State.PENDING,
        created_at=now,
        created_by=user,
    )


@transaction.atomic
def dkim_key_activate(*, organization: Organization, now: datetime) -> DkimKey:
    """Sign with the waiting key from now on; the active one is retired. DoesNotExist when no
    key is waiting (two admins clicking at once: the second finds none)."""
    pending = (
        DkimKey.objects.select_for_update()
        .defer("private_key")
        .get(organization=organization, state=State.PENDING)
    )
    _retire_active(organization, now)
    DkimKey.objects.filter(pk=pending.pk).update(state=State.ACTIVE, activated_at=now)
    pending.state, pending.activated_at = State.ACTIVE, now
    return pending


@transaction.atomic
def dkim_key_disable(*, organization: Organization, now: datetime) -> int:
    """Stop signing: the active key is retired. How many keys changed (0 or 1)."""
    return _retire_active(organization, now)


def _retire_active(organization: Organization, now: datetime) -> int:
    # The private half is wiped: a retired key never signs again, so it need not be kept.
    return DkimKey.objects.filter(organization=organization, state=State.ACTIVE).update(
        state=State.RETIRED, retired_at=now, private_key=""
    )


def records_for(key: DkimKey, origin: MailOrigin) -> list[DnsRecord]:
    """What to publish for this key: its DKIM record, and SPF and DMARC for its domain."""
    return [
        dkim_keys.dkim_record(key.selector, key.domain, key.public_key),
        dkim_keys.spf_record(origin.domain or key.domain, origin.sending_host),
        dkim_keys.dmarc_record(origin.domain or key.domain),
    ]


# -- checking DNS --------------------------------------------------------------------------------


FOUND, MISMATCH, MISSING, UNREACHABLE = "found", "mismatch", "missing", "unreachable"
LABELS = {
    FOUND: "Found",
    MISMATCH: "Does not match",
    MISSING: "Not found",
    UNREACHABLE: "DNS could not be reached",
}


@dataclass(frozen=True)
class Check:
    record: DnsRecord
    status: str
    detail: str

    @property
    def label(self) -> str:
        return LABELS[self.status]


class Unreachable(Exception):
    """No answer from DNS: a timeout, no nameserver answering, no resolver configured."""


def make_resolver() -> dns.resolver.Resolver:
    """The system's resolver (/etc/resolv.conf); tests put a resolver of their own here."""
    return dns.resolver.Resolver()


class _Lookups:
    """TXT lookups sharing one deadline, so that a check never hangs the page."""

    def __init__(self, resolver, seconds: float):
        self.resolver = resolver
        self.deadline = time.monotonic() + seconds

    def txt(self, name: str) -> list[str]:
        """The TXT records at `name`, each one string; [] when the name or the record is
        missing. Raises Unreachable."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Unreachable("the check ran out of time")
        try:
            answer = self.resolver.resolve(name, "TXT", lifetime=min(LOOKUP_SECONDS, left))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.DNSException, OSError) as exc:
            raise Unreachable(str(exc) or type(exc).__name__) from exc
        # A record's character-strings are one value (RFC 7208 3.3, RFC 6376 3.6.2.2).
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def dkim_dns_check(*, records: list[DnsRecord], resolver=None) -> list[Check]:
    """Look each record up and say, per record, whether what is published is what we need."""
    try:
        lookups = _Lookups(resolver if resolver is not None else make_resolver(), CHECK_SECONDS)
    except dns.exception.DNSException as exc:  # no resolver configuration on this machine
        return [Check(r, UNREACHABLE, f"No DNS resolver: {exc}") for r in records]
    checkers = {"DKIM": _check_dkim, "SPF": _check_spf, "DMARC": _check_dmarc}
    results = []
    for record in records:
        try:
            results.append(checkers[record.kind](record, lookups))
        except Unreachable as exc:
            results.append(Check(record, UNREACHABLE, f"No answer for {record.name}: {exc}."))
    return results


def _tags(value: str) -> dict[str, str]:
    """k=v; k=v tag lists (RFC 6376 3.2), whitespace inside values dropped."""
    pairs = (part.split("=", 1) for part in value.split(";") if "=" in part)
    return {k.strip().lower(): "".join(v.split()) for k, v in pairs}


def _check_dkim(record: DnsRecord, lookups: _Lookups) -> Check:
    values = lookups.txt(record.name)
    if not values:
        return Check(record, MISSING, f"No TXT record at {record.name}.")
    keys = [_tags(value).get("p") for value in values]
    if record.expect in keys:
        return Check(record, FOUND, "The published key is this key.")
    if "" in keys:
        return Check(record, MISMATCH, "The record's p= is empty: it says the key is revoked.")
    if not any(keys):
        return Check(record, MISMATCH, "The TXT record there holds no key (no p= tag).")
    return Check(record, MISMATCH, "The record holds another key: publish the value shown.")


def _spf_terms(value: str) -> set[str]:
    # "+a:host/24" and "a:HOST" name the same host as "a:host".
    return {term.lstrip("+").split("/", 1)[0].lower() for term in value.split()[1:]}


def _check_spf(record: DnsRecord, lookups: _Lookups) -> Check:
    spf = [v for v in lookups.txt(record.name) if v.lower().split(" ", 1)[0] == "v=spf1"]
    if not spf:
        return Check(record, MISSING, f"No SPF record (v=spf1) at {record.name}.")
    if len(spf) > 1:
        return Check(
            record,
            MISMATCH,
            f"{len(spf)} SPF records: receivers treat more than one as an error "
            "(RFC 7208 3.2). Merge them into one.",
        )
    if record.expect and record.expect.lower() not in _spf_terms(spf[0]):
        return Check(
            record,
            MISMATCH,
            f"Published: “{spf[0]}”. It does not name {record.expect}: fine if one of its "
            "other mechanisms covers that server, otherwise add it.",
        )
    return Check(record, FOUND, f"Published: “{spf[0]}”.")


def _check_dmarc(record: DnsRecord, lookups: _Lookups) -> Check:
    # Receivers fall back to the organizational domain's record (RFC 7489 6.6.3); without the
    # public suffix list, each domain above down to two labels stands in for it.
    domain = record.name.removeprefix("_dmarc.")
    for candidate in dkim_keys.parent_domains(domain):
        name = f"_dmarc.{candidate}"
        found = [v for v in lookups.txt(name) if "".join(v.split()).upper().startswith("V=DMARC1")]
        if len(found) > 1:
            return Check(record, MISMATCH, f"{len(found)} DMARC records at {name}: keep one.")
        if found:
            return Check(record, FOUND, f"Published at {name}: “{found[0]}”.")
    return Check(record, MISSING, f"No DMARC record (v=DMARC1) at {record.name}.")
