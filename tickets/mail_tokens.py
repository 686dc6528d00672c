"""Signed tokens that tie mail to a ticket: in our Message-IDs and in plus-addressed Reply-To.

A token is `<org base36>-<ticket base36>-<hmac>`; the HMAC (SHA-256 over both ids, keyed by
SECRET_KEY, truncated to 10 base32 chars = 50 bits) makes a forged or altered token fail.
Lower-case only, because some MTAs lower-case local parts (RFC 5321 says they should not).

Mail to an agent carries a second, per-agent token beside the ticket's: `s<user base36>.<hmac>`
(HMAC over organization, ticket and user with its own key, 16 base32 chars = 80 bits), in its
Message-ID (`hd.<ticket token>.<random>.<agent token>@`) and its Reply-To
(`support+<ticket token>.<agent token>@`). Customers never receive it, so a reply carrying it
proves that agent (inbound_mail.staff_proof). It has no hyphen: TOKEN_RE never mistakes it for
a (forged) ticket token.
"""

import base64
import hashlib
import hmac
import re
import secrets

from django.conf import settings

TOKEN_RE = re.compile(r"\b([0-9a-z]{1,13})-([0-9a-z]{1,13})-([a-z2-7]{10})\b")
MESSAGE_ID_RE = re.compile(r"^hd\.([0-9a-z-]+)\.[0-9a-z.]+@(.+)$")
STAFF_TOKEN_RE = re.compile(r"(?<![0-9a-z])s([0-9a-z]{1,13})\.([a-z2-7]{16})(?![0-9a-z])")


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _mac(org_id: int, ticket_id: int) -> str:
    key = ("mail-token:" + settings.SECRET_KEY).encode()
    digest = hmac.new(key, f"{org_id}:{ticket_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:10]


def make_token(organization_id: int, ticket_id: int) -> str:
    return f"{_b36(organization_id)}-{_b36(ticket_id)}-{_mac(organization_id, ticket_id)}"


def parse_token(text: str) -> tuple[int, int] | None:
    """(organization_id, ticket_id) of the first valid token in text; None if absent or forged."""
    for match in TOKEN_RE.finditer((text or "").lower()):
        org_id, ticket_id = int(match.group(1), 36), int(match.group(2), 36)
        if hmac.compare_digest(match.group(3), _mac(org_id, ticket_id)):
            return org_id, ticket_id
    return None


def has_forged_token(text: str) -> bool:
    """A token-shaped string whose signature does not match: worth logging."""
    return bool(TOKEN_RE.search((text or "").lower())) and parse_token(text) is None


def make_message_id(organization_id: int, ticket_id: int) -> str:
    """`hd.<token>.<random>@<MAIL_DOMAIN>`, without angle brackets."""
    token = make_token(organization_id, ticket_id)
    return f"hd.{token}.{secrets.token_hex(6)}@{settings.MAIL_DOMAIN}"


def is_our_message_id(message_id: str) -> bool:
    match = MESSAGE_ID_RE.match((message_id or "").strip("<>").lower())
    return match is not None and match.group(2) == settings.MAIL_DOMAIN.lower()


def ticket_from_message_id(message_id: str) -> tuple[int, int] | None:
    match = MESSAGE_ID_RE.match((message_id or "").strip("<>").lower())
    if not match or match.group(2) != settings.MAIL_DOMAIN.lower():
        return None
    return parse_token(match.group(1))


def _staff_mac(org_id: int, ticket_id: int, user_id: int) -> str:
    key = ("staff-mail-token:" + settings.SECRET_KEY).encode()
    message = f"{org_id}:{ticket_id}:{user_id}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:16]


def make_staff_token(organization_id: int, ticket_id: int, user_id: int) -> str:
    """The agent's token for this ticket; it stands beside the ticket's token, which names the
    organization and the ticket it is bound to."""
    return f"s{_b36(user_id)}.{_staff_mac(organization_id, ticket_id, user_id)}"


def make_staff_tag(organization_id: int, ticket_id: int, user_id: int) -> str:
    """The plus part of the Reply-To in mail to an agent: the ticket's token, then the agent's."""
    token = make_token(organization_id, ticket_id)
    return f"{token}.{make_staff_token(organization_id, ticket_id, user_id)}"


def make_staff_message_id(organization_id: int, ticket_id: int, user_id: int) -> str:
    """Our Message-ID for mail to an agent: `hd.<token>.<random>.<agent token>@<MAIL_DOMAIN>`."""
    token = make_token(organization_id, ticket_id)
    staff = make_staff_token(organization_id, ticket_id, user_id)
    return f"hd.{token}.{secrets.token_hex(6)}.{staff}@{settings.MAIL_DOMAIN}"


def parse_staff_token(text: str) -> tuple[int, int, int] | None:
    """(organization_id, ticket_id, user_id) of a valid agent token beside a valid ticket token
    in text (a plus part or the local part of our Message-ID); None if absent or forged."""
    ticket = parse_token(text)
    if ticket is None:
        return None
    for match in STAFF_TOKEN_RE.finditer((text or "").lower()):
        user_id = int(match.group(1), 36)
        if hmac.compare_digest(match.group(2), _staff_mac(*ticket, user_id)):
            return (*ticket, user_id)
    return None


def staff_from_message_id(message_id: str) -> tuple[int, int, int] | None:
    match = MESSAGE_ID_RE.match((message_id or "").strip("<>").lower())
    if not match or match.group(2) != settings.MAIL_DOMAIN.lower():
        return None
    return parse_staff_token(match.string.partition("@")[0])


def plus_address(address: str, token: str) -> str:
    """support@acme.test -> support+<token>@acme.test"""
    local, _, domain = address.partition("@")
    return f"{local.split('+', 1)[0]}+{token}@{domain}"


# Outlook's conversation index ([MS-OXOMSG] 2.2.1.3): a 22-byte header block (a reserved 0x01,
# five bytes of FILETIME, a 16-byte GUID) names the conversation; our GUID is the organization
# and ticket ids (4 bytes each) and an 8-byte HMAC of both, so a reply that keeps the header
# names its ticket the way a reply token does (inbound_mail.threading), without a table.
CONVERSATION_HEADER_BYTES = 22
_FILETIME_EPOCH_OFFSET = 116_444_736_000_000_000  # 100 ns ticks from 1601 to 1970


def filetime(moment) -> int:
    """A datetime as a Windows FILETIME: 100-nanosecond ticks since 1601-01-01 UTC."""
    return int(moment.timestamp() * 10_000_000) + _FILETIME_EPOCH_OFFSET


def _conversation_mac(org_id: int, ticket_id: int) -> bytes:
    key = ("conversation-index:" + settings.SECRET_KEY).encode()
    return hmac.new(key, f"{org_id}:{ticket_id}".encode(), hashlib.sha256).digest()[:8]


def make_conversation_header(organization_id: int, ticket_id: int, started) -> bytes:
    """The ticket's 22-byte conversation header block; `started` gives its time bytes."""
    time_bytes = ((filetime(started) >> 24) & 0xFF_FFFF_FFFF).to_bytes(5, "big")
    ids = organization_id.to_bytes(4, "big") + ticket_id.to_bytes(4, "big")
    return b"\x01" + time_bytes + ids + _conversation_mac(organization_id, ticket_id)


def ticket_from_conversation_header(header: bytes) -> tuple[int, int] | None:
    """(organization_id, ticket_id) named by one of our conversation headers; None otherwise."""
    if len(header) < CONVERSATION_HEADER_BYTES:
        return None
    org_id = int.from_bytes(header[6:10], "big")
    ticket_id = int.from_bytes(header[10:14], "big")
    if hmac.compare_digest(header[14:22], _conversation_mac(org_id, ticket_id)):
        return org_id, ticket_id
    return None
