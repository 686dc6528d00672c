"""DKIM for a tenant's outgoing mail (RFC 6376): key pairs, the DNS records the tenant publishes
(the DKIM key, SPF and DMARC), and the signer that puts a DKIM-Signature on a message.

Receivers count a DKIM signature towards DMARC (RFC 7489 3.1.1) only when its domain (d=) is the
From address's domain or one above it (relaxed alignment): a key signs only such mail.
"""

import base64
import logging
import re
from dataclasses import dataclass, field
from email.utils import parseaddr

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from outbound_mail.models import DkimKey
from tenants.models import Organization

logger = logging.getLogger(__name__)

KEY_BITS = 2048  # RFC 8301: at least 1024, 2048 recommended
TXT_CHUNK = 255  # one character-string of a TXT record holds at most 255 bytes (RFC 1035 3.3)
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
SELECTOR_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
DOMAIN_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")

# The headers a reply to a ticket carries that say who, what and which thread (RFC 6376 5.4.1),
# signed when present; the singletons among them are signed once more, so that a second copy
# added on the way breaks the signature instead of being shown (RFC 6376 8.15).
SIGNED_HEADERS = (
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Auto-Submitted",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Thread-Index",
    "Thread-Topic",
)
OVERSIGNED = ("From", "To", "Subject", "Date", "Message-ID", "Reply-To")


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_b64: str  # DER SubjectPublicKeyInfo, the p= tag of the record


def generate_key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        # PKCS#1, the form dkimpy reads first
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private.decode(), base64.b64encode(public).decode())


# -- names -----------------------------------------------------------------------------------------


def ascii_domain(value: str) -> str:
    """A domain as DNS holds it: lower case, no final dot, IDNA for non-ASCII; "" if malformed."""
    value = value.strip().rstrip(".").lower()
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError:
        return ""
    return value if len(value) <= 253 and DOMAIN_RE.match(value) else ""


def address_domain(address: str) -> str:
    """The domain of a From header or a bare address, as DNS holds it."""
    bare = parseaddr(address)[1]
    return ascii_domain(bare.rpartition("@")[2]) if "@" in bare else ""


def aligned(key_domain: str, from_domain: str) -> bool:
    """Relaxed DMARC alignment without the public suffix list: the same domain or one above it."""
    return bool(key_domain) and (
        from_domain == key_domain or from_domain.endswith("." + key_domain)
    )


def parent_domains(domain: str) -> list[str]:
    """acme.example.com -> [acme.example.com, example.com]: down to two labels."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


# -- the records to publish --------------------------------------------------------------------


@dataclass(frozen=True)
class DnsRecord:
    kind: str  # DKIM | SPF | DMARC
    name: str
    value: str
    # What a published record must contain to count as this one: the DKIM key (p=), an SPF
    # mechanism naming the sending host ("" when we cannot know it), the DMARC version tag.
    expect: str = ""
    note: str = ""

    @property
    def chunks(self) -> list[str]:
        """The value as the character-strings of one TXT record (many DNS panels want them)."""
        return [self.value[i : i + TXT_CHUNK] for i in range(0, len(self.value), TXT_CHUNK)]

    @property
    def quoted(self) -> str:
        return " ".join(f'"{chunk}"' for chunk in self.chunks)


def dkim_record(selector: str, domain: str, public_b64: str) -> DnsRecord:
    return DnsRecord(
        kind="DKIM",
        name=f"{selector}._domainkey.{domain}",
        value=f"v=DKIM1; k=rsa; p={public_b64}",
        expect=public_b64,
        note="Receivers find the public key here, by the selector in each signature.",
    )


def spf_record(domain: str, sending_host: str) -> DnsRecord:
    """SPF (RFC 7208) for the envelope sender, which is the From address: the server that
    hands our mail to the world must be allowed to send for the domain."""
    one_record = " A domain has one SPF record: add to yours rather than publishing a second."
    if not sending_host:
        return DnsRecord(
            kind="SPF",
            name=domain,
            value="v=spf1 include:<your mail provider's SPF domain> ~all",
            note="Mail goes out through the platform's mail provider: use the include its "
            "documentation gives." + one_record,
        )
    mechanism = f"a:{sending_host}"
    return DnsRecord(
        kind="SPF",
        name=domain,
        value=f"v=spf1 {mechanism} mx ~all",
        expect=mechanism,
        note=f"Allows {sending_host} (and your MX hosts) to send for {domain}. If your mail "
        "provider documents an include: for its servers, use that instead." + one_record,
    )


def dmarc_record(domain: str) -> DnsRecord:
    return DnsRecord(
        kind="DMARC",
        name=f"_dmarc.{domain}",
        value=f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}",
        expect="v=DMARC1",
        note="p=none asks receivers to report, not to reject: start here, read the reports "
        "sent to the rua= address (a mailbox you read), then tighten to quarantine or reject.",
    )


# -- signing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """Signs with one tenant's active key; made per batch of sends, used for each message."""

    domain: str
    selector: str
    private_pem: bytes = field(repr=False)  # never in a log line or a traceback

    def sign(self, raw: bytes) -> bytes:
        """The message with a DKIM-Signature on top; unchanged if it cannot be signed (unsigned
        mail still passes DMARC by SPF, refused mail reaches no one)."""
        try:
            signature = dkim.sign(
                raw,
                self.selector.encode(),
                self.domain.encode(),
                self.private_pem,
                include_headers=_include_headers(raw),
                canonicalize=(b"relaxed", b"relaxed"),
                linesep=b"\r\n",
            )
        except Exception:  # dkimpy's own errors and any other: signing never stops the mail
            logger.exception("cannot sign with DKIM key %s for %s", self.selector, self.domain)
            return raw
        return signature + raw


def _include_headers(raw: bytes) -> list[bytes]:
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    names = {
        line.split(b":", 1)[0].strip().lower()
        for line in head.splitlines()
        if line[:1] not in (b" ", b"\t", b"") and b":" in line  # not a folded continuation
    }
    present = [name.encode() for name in SIGNED_HEADERS if name.lower().encode() in names]
    return present + [name.encode() for name in OVERSIGNED if name.encode() in present]


def signer_for(organization: Organization, from_header: str) -> Signer | None:
    """The tenant's active key when its domain aligns with this From, else None (unsigned)."""
    try:
        key = (
            DkimKey.objects.filter(organization=organization, state=DkimKey.State.ACTIVE)
            .only("domain", "selector", "private_key")
            .first()
        )
    except ValueError:  # tenants.crypto: FIELD_ENCRYPTION_KEY changed without keeping the old
        logger.exception("cannot decrypt the DKIM key of %s; sending unsigned", organization.pk)
        return None
    if key is None or not aligned(key.domain, address_domain(from_header)):
        return None
    return Signer(domain=key.domain, selector=key.selector, private_pem=key.private_key.encode())
