"""Outgoing mail as data: the outbox, the tenant's connection and templates, who hears what."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from outbound_mail.kinds import TEMPLATE_KINDS, Channel, Kind
from tenants.crypto import EncryptedTextField
from tenants.models import TenantModel


class OutgoingMessage(TenantModel):
    """One message to one recipient: a row before it is a network call (STYLE.md, outbox).

    One row per recipient so that delivery status, bounces, rate limits and preferences are per
    person; each row has its own Message-ID.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        BOUNCED = "bounced", "Bounced"
        DELIVERED = "delivered", "Delivered"
        # Never sent on purpose (loop safety, an undeliverable contact); kept so agents see why.
        SUPPRESSED = "suppressed", "Not sent"
        # Taken back by the agent before it went out (Undo, or the reply made internal).
        CANCELLED = "cancelled", "Cancelled"

    ticket = models.ForeignKey(
        "tickets.Ticket",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="outgoing_messages",
    )
    comments = models.ManyToManyField(
        "tickets.Comment", through="OutgoingMessageComment", related_name="+", blank=True
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    automatic = models.BooleanField(default=True)
    contact = models.ForeignKey(
        "tickets.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_address = models.EmailField(max_length=254)
    to_name = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=500)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    # Threading and loop-safety headers, as sent: In-Reply-To, References, Auto-Submitted, ...
    headers = models.JSONField(default=dict, blank=True)
    # Without angle brackets, as Comment.message_id.
    message_id = models.CharField(max_length=255)
    # Customer updates folded into this message while it waits (debounce), oldest first.
    changes = models.JSONField(default=list, blank=True)
    foldable = models.BooleanField(default=False)
    attachment_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    send_after = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The server's final answer (SMTP "250 2.0.0 Ok: queued as ...") or the ESP's message id.
    provider_response = models.CharField(max_length=500, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    # The ESP that accepted it (anymail's esp_name: "Postmark", "Mailgun", ...); empty for SMTP.
    # A tracking event counts only from the ESP that has the message (`outgoing_track`).
    esp_name = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The due scan runs across tenants (beat finds which tenants have work), hence no
            # organization prefix.
            models.Index(fields=["status", "send_after"], name="outgoing_due"),
            models.Index(fields=["organization", "message_id"], name="outgoing_org_message_id"),
            models.Index(
                fields=["organization", "ticket", "to_address", "created_at"],
                name="outgoing_org_ticket_rcpt",
            ),
            # ESP tracking webhooks arrive on the platform host, before any tenant is known.
            models.Index(
                fields=["provider_message_id"],
                name="outgoing_provider_id",
                condition=~Q(provider_message_id=""),
            ),
        ]

    def __str__(self):
        return f"{self.kind} to {self.to_address} ({self.status})"


class OutgoingMessageComment(TenantModel):
    """Which comments a message carries: a folded update can carry several replies."""

    message = models.ForeignKey(
        OutgoingMessage, on_delete=models.CASCADE, related_name="comment_links"
    )
    comment = models.ForeignKey(
        "tickets.Comment", on_delete=models.CASCADE, related_name="outgoing_links"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "comment"], name="outgoing_comment_unique")
        ]


class SmtpConnection(TenantModel):
    """The tenant's own SMTP server; without an enabled one, the platform's connection is used."""

    class Security(models.TextChoices):
        NONE = "none", "None"
        STARTTLS = "starttls", "STARTTLS"
        TLS = "tls", "TLS (implicit, port 465)"

    enabled = models.BooleanField(default=False)
    host = models.CharField(max_length=253)
    port = models.PositiveIntegerField(default=587)
    security = models.CharField(max_length=16, choices=Security.choices, default=Security.STARTTLS)
    username = models.CharField(max_length=254, blank=True)
    password = EncryptedTextField(blank=True)
    from_address = models.EmailField()
    from_name = models.CharField(max_length=200, blank=True)
    reply_to_address = models.EmailField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="smtpconnection_one_per_org")
        ]


class MailSettings(TenantModel):
    """How the tenant's mail behaves; a missing row means the defaults below."""

    class AlertTo(models.TextChoices):
        TEAM = "team", "The ticket's team (all agents when it has none)"
        ALL = "all", "All agents"

    debounce_seconds = models.PositiveIntegerField(
        default=120, help_text="Customer updates wait this long after the last change."
    )
    new_ticket_alert_to = models.CharField(
        max_length=8, choices=AlertTo.choices, default=AlertTo.TEAM
    )
    auto_mail_limit = models.PositiveSmallIntegerField(
        default=10, help_text="Automatic messages per ticket and recipient within the window."
    )
    auto_mail_window_minutes = models.PositiveIntegerField(default=60)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="mailsettings_one_per_org")
        ]


class EmailTemplate(TenantModel):
    """The tenant's version of one kind's mail; without a row the shipped default is used."""

    kind = models.CharField(max_length=32, choices=[(k.value, k.label) for k in TEMPLATE_KINDS])
    subject = models.CharField(max_length=500)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "kind"], name="emailtemplate_unique")
        ]


class NotificationDefault(TenantModel):
    """The organization's channel for one agent kind, for agents without their own choice."""

    kind = models.CharField(max_length=32, choices=Kind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "kind"], name="notifdefault_unique")
        ]


class NotificationPreference(TenantModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user", "kind"], name="notifpref_unique"
            )
        ]


class Notification(TenantModel):
    """An entry in an agent's in-app list (the bell)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    title = models.CharField(max_length=300)
    body = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["organization", "user", "-created_at", "-id"], name="notification_org_user"
            ),
            models.Index(
                fields=["organization", "user"],
                name="notification_org_user_unread",
                condition=Q(read_at__isnull=True),
            ),
        ]


class DkimKey(TenantModel):
    """A tenant's DKIM signing key (RFC 6376) for the domain of its From address.

    A new key waits (`pending`) until the admin has published its record and switches it on;
    then it signs (`active`) and the key it replaces is `retired`, its private half wiped. At most
    one of each of the first two per tenant.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be switched on"
        ACTIVE = "active", "Signing"
        RETIRED = "retired", "Replaced"

    domain = models.CharField(max_length=253)
    selector = models.CharField(max_length=63)
    private_key = EncryptedTextField(blank=True)  # PEM (PKCS#1); "" once retired
    public_key = models.TextField()  # base64 DER SubjectPublicKeyInfo: the record's p=
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], condition=Q(state="active"), name="dkimkey_one_active"
            ),
            models.UniqueConstraint(
                fields=["organization"], condition=Q(state="pending"), name="dkimkey_one_pending"
            ),
        ]
        indexes = [models.Index(fields=["organization", "state"], name="dkimkey_org_state")]

    def __str__(self):
        return f"{self.selector}._domainkey.{self.domain} ({self.state})"
