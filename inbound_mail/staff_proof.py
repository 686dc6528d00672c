"""Whether mail that names an agent in From: was really sent by that agent.

From: is easy to forge, and our reply token and Message-IDs reach every customer on a ticket,
so neither proves anything about the sender. Staff privileges by mail (a public reply in the
agent's name, [CLOSED], [PVT], forwarding as staff) need one of these proofs, cheapest first:

1. `token`: the agent's own token (tickets.mail_tokens.make_staff_token), which only mail sent
   to that agent carries, in a recipient's plus part or in one of our Message-IDs quoted in
   In-Reply-To/References; it must name this tenant, this ticket and the From: user.
2. `dmarc`: `dmarc=pass` for the From: domain in an Authentication-Results header (RFC 8601)
   added by a receiving host the tenant trusts (InboundSettings.trusted_authserv_ids). Only the
   topmost run of such headers counts: a receiving host prepends its own and removes forged
   ones that carry its name (RFC 8601 section 5); anything below came with the message.
3. `dkim`: a DKIM signature (RFC 6376) verified with dkimpy whose d= is the From: domain or a
   parent of it, signing every From, Subject, In-Reply-To and References header the message
   has (no added header steers it) and its whole body (no l= tag: nothing appended).

DNS lookups for DKIM keys go through `dns_txt`, dkimpy's resolver (dnspython) unless replaced:
tests set it to serve a throwaway key.
"""

import logging
import re
from collections.abc import Callable, Iterable
from email.parser import BytesHeaderParser
from email.policy import compat32

import dkim
import dkim.dnsplug

from inbound_mail.parsing import ParsedMessage
from inbound_mail.routing import header_block, split_plus
from inbound_mail.threading import thread_ids
from tickets import mail_tokens

logger = logging.getLogger(__name__)

TOKEN, DMARC, DKIM = "token", "dmarc", "dkim"

# name -> TXT record bytes (or None); dkimpy calls it as dnsfunc(name, timeout=...).
DnsTxt = Callable[..., bytes | None]
dns_txt: DnsTxt = dkim.dnsplug.get_txt
DKIM_TIMEOUT = 5  # seconds per key lookup
MAX_SIGNATURES = 5  # a message with more is not worth the lookups
# Every instance of these must be signed: an unsigned one added later could re-thread or
# re-address a genuine signed message.
COVERED = (b"from", b"subject", b"in-reply-to", b"references")


def proof_of(
    *,
    raw: bytes,
    parsed: ParsedMessage,
    address: str,
    user_id: int,
    organization_id: int,
    ticket_id: int | None,
    recipients: Iterable[str],
    trusted_hosts: Iterable[str],
) -> str:
    """How the agent at `address` is proven to have sent this message ("token", "dmarc",
    "dkim"), or "" when nothing proves it."""
    from_address = parsed.from_.address.strip().lower() if parsed.from_ else ""
    if not from_address or from_address != address.strip().lower():
        return ""  # the agent was named by Sender or Reply-To, not From: nothing to align with
    if _has_token(parsed, recipients, (organization_id, ticket_id, user_id)):
        return TOKEN
    domain = from_address.rpartition("@")[2]
    if dmarc_passed(raw, domain, trusted_hosts):
        return DMARC
    if dkim_verified(raw, domain):
        return DKIM
    return ""


# -- 1. the agent's token ------------------------------------------------------------------


def _has_token(parsed: ParsedMessage, recipients: Iterable[str], wanted) -> bool:
    organization_id, ticket_id, user_id = wanted
    found = [mail_tokens.staff_from_message_id(i) for i in thread_ids(parsed)]
    found += [mail_tokens.parse_staff_token(split_plus(r)[1]) for r in recipients if "+" in r]
    for token in found:
        if token is None or token[0] != organization_id or token[2] != user_id:
            continue  # another tenant's, or another agent's: it proves nothing about this one
        if ticket_id is None or token[1] == ticket_id:
            return True
    return False


# -- 2. Authentication-Results from a trusted receiving host -------------------------------

_COMMENT_RE = re.compile(r"\([^()]*\)")
_RESULT_RE = re.compile(r"^\s*dmarc\s*=\s*([a-z]+)\b(.*)$", re.IGNORECASE | re.DOTALL)
_HEADER_FROM_RE = re.compile(r"\bheader\.from\s*=\s*\"?([^\s\";]+)\"?", re.IGNORECASE)


def dmarc_passed(raw: bytes, domain: str, trusted_hosts: Iterable[str]) -> bool:
    trusted = {h.strip().lower().rstrip(".") for h in trusted_hosts if h.strip()}
    if not trusted:
        return False
    for value in _headers(raw, "Authentication-Results"):
        authserv_id, results = _authentication_results(value)
        if authserv_id not in trusted:
            return False  # below the trusted hosts' own headers: came with the message
        dmarc = [match for r in results if (match := _RESULT_RE.match(r)) is not None]
        if dmarc:
            # The topmost DMARC verdict is the receiving host's own; one below it is older.
            return _passed_for(dmarc[0], domain)
    return False


def _authentication_results(value: str) -> tuple[str, list[str]]:
    """(authserv-id, the resinfo parts) of one header (RFC 8601 section 2.2)."""
    text = " ".join(value.split())
    for _ in range(4):  # comments may nest; a few passes remove what real headers hold
        text = _COMMENT_RE.sub(" ", text)
    authserv, _, rest = text.partition(";")
    tokens = authserv.split()
    return (tokens[0].lower().rstrip(".") if tokens else ""), rest.split(";")


def _passed_for(match: re.Match, domain: str) -> bool:
    if match.group(1).lower() != "pass":
        return False
    header_from = _HEADER_FROM_RE.search(match.group(2))
    return header_from is not None and header_from.group(1).lower().rstrip(".") == domain


# -- 3. DKIM ---------------------------------------------------------------------------------


def dkim_verified(raw: bytes, domain: str) -> bool:
    """A valid DKIM signature aligned with `domain` that covers what steers the message."""
    try:
        checker = dkim.DKIM(raw, timeout=DKIM_TIMEOUT)
        count = sum(1 for name, _ in checker.headers if name.lower() == b"dkim-signature")
    except Exception:
        logger.info("message unreadable for DKIM", exc_info=True)
        return False
    header_counts = _header_counts(checker.headers)
    for idx in range(min(count, MAX_SIGNATURES)):
        if _signature_ok(checker, idx, domain, header_counts):
            return True
    return False


def _signature_ok(checker: dkim.DKIM, idx: int, domain: str, header_counts: dict) -> bool:
    try:
        if not checker.verify(idx=idx, dnsfunc=dns_txt):
            return False
    except Exception as exc:
        logger.info("DKIM signature %s not verified: %s", idx, exc)
        return False
    fields = checker.signature_fields
    signed = [h.strip().lower() for h in re.split(rb":", fields.get(b"h", b""))]
    if b"l" in fields or b"from" not in signed:
        return False
    if any(signed.count(name) < header_counts.get(name, 0) for name in COVERED):
        return False
    return _aligned(fields.get(b"d", b"").decode("ascii", "replace").lower(), domain)


def _header_counts(headers) -> dict[bytes, int]:
    counts: dict[bytes, int] = {}
    for name, _ in headers:
        counts[name.lower()] = counts.get(name.lower(), 0) + 1
    return counts


def _aligned(signing_domain: str, from_domain: str) -> bool:
    """d= is the From: domain, or a parent domain of it (DMARC's relaxed alignment, RFC 7489
    section 3.1.1, without the public suffix list: a bare top-level domain never aligns)."""
    signing_domain = signing_domain.strip().rstrip(".")
    if "." not in signing_domain:
        return False
    return from_domain == signing_domain or from_domain.endswith("." + signing_domain)


def _headers(raw: bytes, name: str) -> list[str]:
    """Every instance of a header, topmost first, as the bytes say."""
    message = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw))
    return [str(v) for v in message.get_all(name, [])]
