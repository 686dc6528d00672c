"""Which tenant a message is for: its recipients against every tenant's inbound addresses.

Never by From: anyone can write any From. The envelope recipient (what the ESP, the MTA or the
mailbox reports as RCPT TO) decides when it names a tenant; otherwise the recipients recorded
in the headers (Delivered-To, X-Original-To, Envelope-To, To, Cc) do. A recipient matches an
address exactly, or by its plus-address base (support+anything@) when the address allows it,
or by carrying a signed reply token, which names the tenant it was issued for.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django_scopes import scopes_disabled

from inbound_mail.models import InboundAddress
from inbound_mail.parsing import ParsedMessage, parse_message
from tenants.models import Organization
from tickets import mail_tokens

# The header block is parsed at intake; a header section larger than this is hostile.
MAX_HEADER_BYTES = 512 * 1024


@dataclass(frozen=True)
class HeaderSummary:
    """What intake needs before a message is processed: identity, sender, recipients."""

    message_id: str
    from_address: str
    subject: str
    recipients: list[str] = field(default_factory=list)


def header_block(raw: bytes) -> bytes:
    """The header section (up to the first empty line), bounded, ending in an empty line."""
    head = raw[:MAX_HEADER_BYTES]
    ends = [i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0]
    if ends:
        head = head[: min(ends)]
    return head + b"\n\n"


def summarize(raw: bytes) -> HeaderSummary:
    """Parse only the header block, with the same decoding the full parse uses."""
    parsed = parse_message(header_block(raw))
    return HeaderSummary(
        message_id=parsed.message_id[:255],
        from_address=(parsed.from_.address if parsed.from_ else "")[:254],
        subject=parsed.subject[:300],
        recipients=header_recipients(parsed),
    )


def header_recipients(parsed: ParsedMessage) -> list[str]:
    found = [*parsed.delivered_to, *(a.address for a in parsed.to), *(a.address for a in parsed.cc)]
    return _unique_lower(found)


def _unique_lower(addresses: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(a.strip().lower() for a in addresses if a and "@" in a))


def split_plus(address: str) -> tuple[str, str]:
    """support+tag@acme.test -> ("support@acme.test", "tag"); no tag -> (address, "")."""
    local, _, domain = address.lower().rpartition("@")
    base, _, tag = local.partition("+")
    return f"{base}@{domain}", tag


def organizations_for(recipients: Iterable[str]) -> list[Organization]:
    """The tenants these recipients belong to, in the order of the recipients."""
    recipients = _unique_lower(recipients)
    if not recipients:
        return []
    candidates = set(recipients) | {split_plus(r)[0] for r in recipients}
    # Routing runs before any tenant is known: it reads only addresses and their tenants.
    with scopes_disabled():  # no tenant is known yet
        rows = InboundAddress.objects.filter(address__in=candidates).select_related("organization")
        known = {row.address: (row.organization, row.plus_addressing) for row in rows}
    found: dict[int, Organization] = {}
    for recipient in recipients:
        organization = _match(recipient, known)
        if organization is not None:
            found.setdefault(organization.pk, organization)
    return list(found.values())


def _match(recipient: str, known: dict[str, tuple[Organization, bool]]) -> Organization | None:
    if recipient in known:
        return known[recipient][0]
    base, tag = split_plus(recipient)
    if tag and base in known and known[base][1]:
        return known[base][0]
    token = mail_tokens.parse_token(tag) if tag else None
    return Organization.objects.filter(pk=token[0]).first() if token else None


def route(*, summary: HeaderSummary, envelope_recipients: Iterable[str]) -> list[Organization]:
    """Envelope recipients decide when they name a tenant; the headers otherwise."""
    return organizations_for(envelope_recipients) or organizations_for(summary.recipients)


def platform_addresses(addresses: Iterable[str]) -> set[str]:
    """Which of these addresses are inbound addresses of any tenant (never collaborators)."""
    bases = {split_plus(a)[0] for a in addresses} | set(addresses)
    # A cross-tenant read of addresses only: a ticket must not copy another tenant's support
    # address as a collaborator, or the two helpdesks would mail each other.
    with scopes_disabled():  # addresses only, across tenants
        known = set(
            InboundAddress.objects.filter(address__in=bases).values_list("address", flat=True)
        )
    return {a for a in addresses if a in known or split_plus(a)[0] in known}
