"""Inbound mail as data: addresses and mailboxes it arrives through, every message as received,
the spam list, and the bookkeeping that keeps threading correct under concurrency.

Every row here belongs to a tenant except `UnclaimedMessage`: mail whose recipients matched no
tenant has no organization at all, so it lives in its own platform table (no organization column,
nothing for a forgotten filter to leak) instead of an InboundMessage with a nullable tenant.
"""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from tenants.crypto import EncryptedTextField
from tenants.models import TenantModel


def raw_storage_path(sha256: str) -> str:
    """Raw mail is content-addressed: identical bytes are stored once, whoever received them."""
    return f"inbound/{sha256}"


class Source(models.TextChoices):
    IMAP = "imap", "IMAP"
    WEBHOOK = "webhook", "Webhook"
    COMMAND = "command", "Command line"
    LMTP = "lmtp", "LMTP"
    MAILGATE = "mailgate", "Mailgate (MTA pipe)"


class InboundAddress(TenantModel):
    """A support address of the tenant: mail sent to it becomes tickets and comments."""

    # Unique across the platform: an address routes to exactly one tenant. Always lower-case.
    address = models.EmailField(max_length=254, unique=True)
    plus_addressing = models.BooleanField(
        default=True,
        help_text="Also accept support+anything@ (the reply tokens in our mail use it).",
    )
    is_default = models.BooleanField(default=False, help_text="Replies are sent from this address.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-is_default", "address"]
        verbose_name_plural = "inbound addresses"
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(is_default=True),
                name="inboundaddress_one_default",
            ),
            # One address, one tenant, whatever the case it was written in (issue 9): the
            # services store lower case, this holds even for a write that forgot to.
            models.UniqueConstraint(Lower("address"), name="inboundaddress_unique_lower"),
        ]

    def __str__(self):
        return self.address


class MailDomain(TenantModel):
    """A custom mail domain of the tenant: its addresses may be inbound addresses once verified.

    Verified by a DNS TXT record `helpdesk-verification=<token>` at the domain or at
    `_helpdesk.<domain>` (inbound_mail.domains). Several tenants may add the same domain while
    unverified (an unverified row must not let anyone squat it); only one can verify it.
    """

    domain = models.CharField(max_length=253)  # lower case, no "@"
    token = models.CharField(max_length=64)
    verified = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "domain"], name="maildomain_unique_per_tenant"
            ),
            models.UniqueConstraint(
                fields=["domain"], condition=Q(verified=True), name="maildomain_verified_once"
            ),
        ]

    def __str__(self):
        return self.domain


class AddressConfirmation(TenantModel):
    """One address on a domain the tenant has not verified, waiting for proof by mail.

    The platform mailed a signed code to the address; it becomes an InboundAddress when that
    mail comes back through intake, or when an admin enters the code. Until then it routes
    nothing (routing reads InboundAddress only).
    """

    address = models.EmailField(max_length=254)  # lower case
    plus_addressing = models.BooleanField(default=True)
    requested_by = models.ForeignKey(
        "tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["address"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "address"], name="addressconfirmation_unique"
            )
        ]

    def __str__(self):
        return self.address


class Mailbox(TenantModel):
    """An IMAP mailbox polled every minute; fetched by UID, never by the \\Seen flag."""

    class Security(models.TextChoices):
        TLS = "tls", "TLS"
        STARTTLS = "starttls", "STARTTLS"
        NONE = "none", "None"

    class AfterIntake(models.TextChoices):
        SEEN = "seen", "Mark as read"
        MOVE = "move", "Move to a folder"
        DELETE = "delete", "Delete"

    name = models.CharField(max_length=100)
    host = models.CharField(max_length=253)
    port = models.PositiveIntegerField(default=993)
    security = models.CharField(
        max_length=8,
        choices=Security.choices,
        default=Security.TLS,
        help_text="TLS usually on port 993, STARTTLS on 143; none only on a trusted network.",
    )
    username = models.CharField(max_length=254)
    password = EncryptedTextField(blank=True)
    folder = models.CharField(max_length=200, default="INBOX")
    after_intake = models.CharField(
        max_length=8, choices=AfterIntake.choices, default=AfterIntake.SEEN
    )
    move_to = models.CharField(max_length=200, blank=True, help_text="For “Move to a folder”.")
    enabled = models.BooleanField(default=True)
    # UIDs are only meaningful together with UIDVALIDITY (RFC 3501 2.3.1.1).
    last_uid = models.PositiveBigIntegerField(default=0)
    uidvalidity = models.PositiveBigIntegerField(null=True, blank=True)
    # Stored but not yet flagged/moved/deleted on the server: acknowledged on the next poll.
    pending_ack = models.JSONField(default=list, blank=True)
    # The claim: a poll owns the mailbox until this time (a crashed poll's claim expires).
    polling_until = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "mailboxes"
        indexes = [models.Index(fields=["organization", "enabled"], name="mailbox_org_enabled")]

    def __str__(self):
        return self.name


class InboundMessage(TenantModel):
    """One message as received by one tenant: raw bytes in storage, what became of it here."""

    class Status(models.TextChoices):
        # Stored, waiting for (or being worked on by) a worker: the claim is a row lock held
        # until the result commits, so no committed "processing" state can be left behind.
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"
        QUARANTINED = "quarantined", "Quarantined"

    source = models.CharField(max_length=8, choices=Source.choices)
    mailbox = models.ForeignKey(Mailbox, null=True, blank=True, on_delete=models.SET_NULL)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    # RCPT TO as the ESP, the MTA or the mailbox reported it (not the headers).
    envelope_recipients = models.JSONField(default=list, blank=True)
    # Read from the header block at intake, so lists show them even if parsing fails later.
    message_id = models.CharField(max_length=255, blank=True)
    from_address = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    reason = models.TextField(blank=True)
    # Tries that did not finish: failures, and rounds in which the task was lost or the worker died.
    attempts = models.PositiveSmallIntegerField(default=0)
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.ForeignKey(
        "tickets.Comment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now)
    # When the sweeper acts on the row if it is still received (the task was lost or the worker
    # died: queue it again) or failed (the pause before the next try is over).
    due_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # The same bytes received twice by one tenant (a redelivery, an IMAP resync after a
            # UIDVALIDITY change) are one row.
            models.UniqueConstraint(fields=["organization", "sha256"], name="inbound_unique_sha")
        ]
        indexes = [
            models.Index(
                fields=["organization", "status", "-received_at"], name="inbound_org_status"
            ),
            models.Index(
                fields=["organization", "message_id"],
                name="inbound_org_message_id",
                condition=~Q(message_id=""),
            ),
            # The sweeper's scan over all tenants for rows that are due.
            models.Index(
                fields=["due_at"],
                name="inbound_due",
                condition=Q(status__in=["received", "failed"]),
            ),
        ]

    def __str__(self):
        return f"{self.from_address}: {self.subject}"

    @property
    def raw_path(self) -> str:
        return raw_storage_path(self.sha256)


class UnclaimedMessage(models.Model):
    """Mail no tenant claimed (no recipient is anyone's inbound address): platform quarantine.

    Deliberately without an organization column (see the module docstring); platform staff
    review it, and "reprocess" routes it again once the right address exists.
    """

    source = models.CharField(max_length=8, choices=Source.choices)
    sha256 = models.CharField(max_length=64, unique=True)
    size = models.PositiveBigIntegerField()
    envelope_recipients = models.JSONField(default=list, blank=True)
    header_recipients = models.JSONField(default=list, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    from_address = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    reason = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["-received_at", "-id"], name="unclaimed_received")]

    def __str__(self):
        return f"{self.from_address}: {self.subject}"

    @property
    def raw_path(self) -> str:
        return raw_storage_path(self.sha256)


class SpamRule(TenantModel):
    """A sender address or a whole domain whose mail the tenant rejects."""

    class Kind(models.TextChoices):
        ADDRESS = "address", "Address"
        DOMAIN = "domain", "Domain"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    # Lower-case; an address, or a domain without the "@".
    value = models.CharField(max_length=254)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        "tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["value"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "value"], name="spamrule_unique_value")
        ]

    def __str__(self):
        return self.value


class ThreadReference(TenantModel):
    """Which ticket a Message-ID belongs to: ids we received and ids those messages referred to.

    Keeping the referred-to ids is what makes out-of-order arrival thread: when a reply is
    processed before the message it answers, the answered message later finds its own
    Message-ID here and lands on the same ticket instead of opening a second one.
    """

    message_id = models.CharField(max_length=255)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "message_id"], name="threadref_unique_id"
            )
        ]


class ConversationIndex(TenantModel):
    """Which ticket an Outlook conversation belongs to: the 22-byte header block of the
    Thread-Index ([MS-OXOMSG] 2.2.1.3) of mail that arrived on the ticket, hex-encoded.

    Outlook keeps the block on every reply and forward in the conversation, also when it drops
    In-Reply-To, so a later message of the conversation finds its ticket here (threading).
    Our own mail carries a signed block (tickets.mail_tokens) that needs no row.
    """

    key = models.CharField(max_length=44)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"], name="conversationindex_unique_key"
            )
        ]


class InboundSettings(TenantModel):
    """How the tenant's inbound mail is judged; a missing row means the defaults below."""

    # Receiving hosts whose Authentication-Results headers (RFC 8601) the tenant believes: DMARC
    # pass recorded by one of them proves an agent's mail (inbound_mail.staff_proof).
    trusted_authserv_ids = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="inboundsettings_one_per_org")
        ]
