"""The customer portal's data: each tenant's portal settings, the contacts' portal accounts and
one-time sign-in links, the intake forms admins build (their fields), what a submission stored
on its ticket, and which customers' contacts see their whole company's tickets."""

from django.db import models
from django.utils import timezone

from tenants.models import TenantModel


class PortalSettings(TenantModel):
    """One row per tenant (portal.selectors.portal_settings makes it on first use)."""

    portal_enabled = models.BooleanField(default=True)
    contact_form_enabled = models.BooleanField(default=True)
    # The intake form whose fields the public contact form adds (none: the plain form).
    contact_form_intake = models.ForeignKey(
        "IntakeForm", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    welcome_text = models.TextField(
        blank=True, default="How can we help? Sign in to see your requests, or open a new one."
    )
    # What customers see for each status category (the agents' status names stay inside).
    label_new = models.CharField(max_length=60, default="Received")
    label_open = models.CharField(max_length=60, default="We're on it")
    label_pending = models.CharField(max_length=60, default="Waiting for you")
    label_resolved = models.CharField(max_length=60, default="Solved")
    label_closed = models.CharField(max_length=60, default="Closed")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="portal_settings_one_per_org")
        ]

    def label_for(self, category: str) -> str:
        return getattr(self, f"label_{category}", "") or category.title()


class CompanyAccess(TenantModel):
    """The customer (company) whose contacts see all of its tickets in the portal, each labelled
    with its requester. A customer without a row: each contact sees only their own."""

    customer = models.OneToOneField(
        "tickets.Customer", on_delete=models.CASCADE, related_name="portal_company_access"
    )
    created_at = models.DateTimeField(default=timezone.now)


class PortalAccount(TenantModel):
    """A contact's portal sign-in: made at their first sign-in. `password` is a Django password
    hash ("" until they set one: magic links only). `session_epoch` grows with each new
    password, which ends every other portal session of the contact."""

    contact = models.OneToOneField(
        "tickets.Contact", on_delete=models.CASCADE, related_name="portal_account"
    )
    password = models.CharField(max_length=128, blank=True)
    session_epoch = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)


class MagicLink(TenantModel):
    """A one-time sign-in link: only the SHA-256 of its token is kept; valid until `expires_at`
    and once (`used_at`)."""

    contact = models.ForeignKey("tickets.Contact", on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    next_url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "expires_at"], name="magiclink_expiry")]


class IntakeForm(TenantModel):
    """A form customers open a ticket with ("Billing question", "Bug report"), listed in the
    portal in `position` order; its tickets get its default team and priority unless a field
    maps to them."""

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)
    default_team = models.ForeignKey(
        "tenants.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    default_priority = models.ForeignKey(
        "tickets.Priority", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="intake_form_unique_name")
        ]

    def __str__(self):
        return self.name


class IntakeField(TenantModel):
    class Kind(models.TextChoices):
        SHORT_TEXT = "short_text", "Short text"
        LONG_TEXT = "long_text", "Long text"
        NUMBER = "number", "Number"
        DATE = "date", "Date"
        SINGLE_CHOICE = "single_choice", "Single choice"
        MULTIPLE_CHOICE = "multiple_choice", "Multiple choice"
        CHECKBOX = "checkbox", "Checkbox"
        EMAIL = "email", "Email"
        FILE = "file", "File"

    class MapsTo(models.TextChoices):
        NOTHING = "", "Stored on the ticket"
        PRIORITY = "priority", "Sets the priority"
        TEAM = "team", "Sets the team"

    form = models.ForeignKey(IntakeForm, on_delete=models.CASCADE, related_name="fields")
    # The field's stable name in submissions (made from the label when it is added).
    key = models.SlugField(max_length=50)
    label = models.CharField(max_length=200)
    help_text = models.CharField(max_length=500, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SHORT_TEXT)
    required = models.BooleanField(default=False)
    # The options of a choice field, in order (a field that maps to priority or team offers
    # the tenant's priorities or teams instead).
    choices = models.JSONField(default=list, blank=True)
    maps_to = models.CharField(max_length=16, choices=MapsTo.choices, default="", blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["form", "key"], name="intake_field_unique_key")
        ]

    def __str__(self):
        return self.label


class Submission(TenantModel):
    """What an intake form's fields held when its ticket was opened, as shown to agents:
    `values` is a list of {"key", "label", "kind", "value"} in the form's order ("value" a
    string, or a list of strings for multiple choice; a file's value is its attachment's
    filename). Kept as submitted: editing the form later changes no ticket's values."""

    ticket = models.OneToOneField(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="intake_submission"
    )
    form = models.ForeignKey(IntakeForm, null=True, blank=True, on_delete=models.SET_NULL)
    form_name = models.CharField(max_length=120)
    values = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)


class SubmittedChoice(TenantModel):
    """One chosen option of a choice field on a ticket: what the agents' list filters on."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    field = models.ForeignKey(IntakeField, on_delete=models.CASCADE, related_name="+")
    value = models.CharField(max_length=200)

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "field", "value", "ticket"], name="submitted_choice_filter"
            )
        ]
