"""Which tenant a message is for: its recipients against every tenant's inbound addresses.

Never by From: anyone can write any From. The envelope recipient (what the ESP, the MTA or the
mailbox reports as RCPT TO) decides when it names a tenant; otherwise the recipients recorded
in the headers (Delivered-To, X-Original-To, X-Envelope-To, Envelope-To, To, Cc, and Bcc,
which some relays leave in) do. A recipient matches an address exactly, or by its plus-address
base (support+anything@) when the address allows it, or by carrying a signed reply token,
which names the tenant it was issued for.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS
from django_scopes import scopes_disabled

from inbound_mail import routing_cache
from inbound_mail.models import InboundAddress
from inbound_mail.parsing import ParsedMessage, parse_header_block
from inbound_mail.parsing.headers import header_block_start
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
    """The header section (up to the first empty line), bounded, ending in an empty line.
    It starts where parse_message finds it: after a byte order mark, blank lines, an mbox
    "From " line or a gateway's banner (parsing.headers.header_block_start)."""
    start, _ = header_block_start(raw)
    head = raw[start : start + MAX_HEADER_BYTES]
    ends = [i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0]
    if ends:
        head = head[: min(ends)]
    return head + b"\n\n"


def summarize(raw: bytes) -> HeaderSummary:
    """The header block's identity, sender and recipients, as parse_message decodes them."""
    parsed = parse_header_block(header_block(raw))
    return HeaderSummary(
        message_id=parsed.message_id[:255],
        from_address=(parsed.from_.address if parsed.from_ else "")[:254],
        subject=parsed.subject[:300],
        recipients=header_recipients(parsed),
    )


def header_recipients(parsed: ParsedMessage) -> list[str]:
    """Envelope headers, then To, Cc and Bcc: some relays and clients leave Bcc in the mail
    they deliver, and then it is the only place that names the support address."""
    addressed = [*parsed.to, *parsed.cc, *parsed.bcc]
    return _unique_lower([*parsed.delivered_to, *(a.address for a in addressed)])


def _unique_lower(addresses: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(a.strip().lower() for a in addresses if a and "@" in a))


def split_plus(address: str) -> tuple[str, str]:
    """support+tag@acme.test -> ("support@acme.test", "tag"); no tag -> (address, "")."""
    local, _, domain = address.lower().rpartition("@")
    base, _, tag = local.partition("+")
    return f"{base}@{domain}", tag


@dataclass(frozen=True)
class Directory:
    """The tenants of a set of recipients, read once: an intake batch routes every message
    from one lookup instead of one per message."""

    addresses: dict[str, tuple[Organization, bool]]  # address -> (tenant, plus_addressing)
    by_token: dict[str, Organization]  # recipient -> the tenant its signed reply token names

    def organization_of(self, recipient: str) -> Organization | None:
        return _by_address(recipient, self.addresses) or self.by_token.get(recipient)


def _by_address(
    recipient: str, addresses: dict[str, tuple[Organization, bool]]
) -> Organization | None:
    if recipient in addresses:
        return addresses[recipient][0]
    base, tag = split_plus(recipient)
    if tag and base in addresses and addresses[base][1]:
        return addresses[base][0]
    return None


def directory(recipients: Iterable[str]) -> Directory:
    """The inbound addresses among these recipients (and their plus bases): what this process
    knows (routing_cache), the rest in one query; one more only when a recipient that no
    address claims carries a signed reply token."""
    recipients = _unique_lower(recipients)
    candidates = set(recipients) | {split_plus(r)[0] for r in recipients}
    if not candidates:
        return Directory({}, {})
    routes = _routes(candidates)
    tenants = {org_id: _organization(org_id) for org_id, _ in filter(None, routes.values())}
    addresses = {a: (tenants[r[0]], r[1]) for a, r in routes.items() if r is not None}
    unmatched = [r for r in recipients if _by_address(r, addresses) is None]
    token_ids = {r: i for r in unmatched if (i := _token_organization_id(r)) is not None}
    tenants = Organization.objects.in_bulk(set(token_ids.values())) if token_ids else {}
    return Directory(addresses, {r: tenants[i] for r, i in token_ids.items() if i in tenants})


def _routes(candidates: set[str]) -> dict[str, routing_cache.Route]:
    """Each candidate's (tenant id, plus_addressing), or None when it is no inbound address:
    what this process already knows (routing_cache), the rest in one query."""
    version, routes = routing_cache.read(candidates)
    missing = candidates - routes.keys()
    if missing:
        # Routing runs before any tenant is known: it reads only addresses and their tenants.
        with scopes_disabled():  # no tenant is known yet
            rows = InboundAddress.objects.filter(address__in=missing).order_by()
            found = {a: (o, p) for a, o, p in rows.values_list(*_ROUTE_FIELDS)}
        learnt = {address: found.get(address) for address in missing}
        routing_cache.learn(version, learnt)
        routes.update(learnt)
    return routes


_ROUTE_FIELDS = ("address", "organization_id", "plus_addressing")


def _organization(organization_id: int) -> Organization:
    # The tenant by its id alone, as `.only("id")` loads it: intake needs nothing else, and any
    # other field is read from the database when asked for (never a copy kept from earlier).
    return Organization.from_db(DEFAULT_DB_ALIAS, ["id"], [organization_id])


def _token_organization_id(recipient: str) -> int | None:
    tag = split_plus(recipient)[1]
    token = mail_tokens.parse_token(tag) if tag else None
    return token[0] if token else None


def organizations_for(
    recipients: Iterable[str], known: Directory | None = None
) -> list[Organization]:
    """The tenants these recipients belong to, in the order of the recipients."""
    recipients = _unique_lower(recipients)
    if not recipients:
        return []
    known = known or directory(recipients)
    found: dict[int, Organization] = {}
    for recipient in recipients:
        organization = known.organization_of(recipient)
        if organization is not None:
            found.setdefault(organization.pk, organization)
    return list(found.values())


def route(
    *, summary: HeaderSummary, envelope_recipients: Iterable[str], known: Directory | None = None
) -> list[Organization]:
    """Envelope recipients decide when they name a tenant; the headers otherwise."""
    by_envelope = organizations_for(envelope_recipients, known)
    return by_envelope or organizations_for(summary.recipients, known)


def route_many(
    *, summaries: Sequence[HeaderSummary], envelope_recipients: Iterable[str]
) -> list[list[Organization]]:
    """`route` for each message, all of them answered from one Directory."""
    envelope = list(envelope_recipients)
    known = directory([*envelope, *(r for s in summaries for r in s.recipients)])
    return [route(summary=s, envelope_recipients=envelope, known=known) for s in summaries]


def platform_addresses(addresses: Iterable[str]) -> set[str]:
    """Which of these addresses are inbound addresses of any tenant (never collaborators)."""
    addresses = set(addresses)
    bases = {split_plus(a)[0] for a in addresses} | addresses
    # Across tenants: a ticket must not copy another tenant's support address as a
    # collaborator, or the two helpdesks would mail each other.
    routes = _routes(bases) if bases else {}
    return {a for a in addresses if routes.get(a) or routes.get(split_plus(a)[0])}
