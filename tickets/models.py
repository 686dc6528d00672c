"""Tickets as data: statuses and priorities per tenant, customers and contacts, tickets,
collaborators, comments (public or internal), attachments, the timeline of TicketEvents, and
the list's saved views."""

from urllib.parse import urlencode

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from tenants.models import TenantModel


class StatusCategory(models.TextChoices):
    """What code relies on; tenants name and add statuses freely within these."""

    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


UNRESOLVED_CATEGORIES = (StatusCategory.NEW, StatusCategory.OPEN, StatusCategory.PENDING)
DONE_CATEGORIES = (StatusCategory.RESOLVED, StatusCategory.CLOSED)


class Status(TenantModel):
    name = models.CharField(max_length=60)
    category = models.CharField(max_length=16, choices=StatusCategory.choices)
    pauses_sla = models.BooleanField(default=False, help_text="SLA timers stop while in it.")
    position = models.PositiveSmallIntegerField(default=0)
    is_default = models.BooleanField(default=False, help_text="Given to new tickets.")

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "statuses"
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="status_unique_name")
        ]

    def __str__(self):
        return self.name


class Priority(TenantModel):
    name = models.CharField(max_length=60)
    rank = models.PositiveSmallIntegerField(help_text="Higher is more urgent.")
    color = models.CharField(max_length=7, default="#6b7280")
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["rank", "id"]
        verbose_name_plural = "priorities"
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="priority_unique_name")
        ]

    def __str__(self):
        return self.name


class Customer(TenantModel):
    """A company; contacts belong to it by choice or by their email domain."""

    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["organization", "name", "id"], name="customer_org_name")]

    def __str__(self):
        return self.name


class CustomerDomain(TenantModel):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "domain"], name="customerdomain_unique_domain"
            )
        ]

    def __str__(self):
        return self.domain


class Contact(TenantModel):
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    undeliverable = models.BooleanField(default=False)
    undeliverable_reason = models.CharField(max_length=300, blank=True)
    # What agents should know about the person (free text, shown on the contact's page).
    notes = models.TextField(blank=True)
    # The contact's own choice (the portal's profile): mail on every public reply, or none.
    mail_replies = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "email"], name="contact_unique_email")
        ]
        indexes = [models.Index(fields=["organization", "name", "id"], name="contact_org_name")]

    def __str__(self):
        return f"{self.name} <{self.email}>" if self.name else self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email


class Ticket(TenantModel):
    class Source(models.TextChoices):
        PORTAL = "portal", "Portal"
        EMAIL = "email", "Email"
        AGENT = "agent", "Agent"
        CONTACT_FORM = "contact_form", "Contact form"
        API = "api", "API"

    number = models.PositiveIntegerField()
    subject = models.CharField(max_length=300)
    status = models.ForeignKey(Status, on_delete=models.PROTECT, related_name="+")
    # Copied from status.category on every change so that lists filter without a join.
    status_category = models.CharField(max_length=16, choices=StatusCategory.choices)
    priority = models.ForeignKey(Priority, on_delete=models.PROTECT, related_name="+")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    team = models.ForeignKey(
        "tenants.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requester = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="tickets")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    collaborators = models.ManyToManyField(
        Contact, through="Collaborator", related_name="collaborating_on", blank=True
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.AGENT)
    last_message_preview = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # When the ticket entered its current status, and the last public message of each side:
    # the clocks of time-based automations ("pending for 72 hours"), each scanned by its index.
    status_changed_at = models.DateTimeField(default=timezone.now)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    last_agent_reply_at = models.DateTimeField(null=True, blank=True)
    # Set when this ticket was merged into another (tickets.services.merge): mail and links to
    # it lead to the survivor.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="ticket_unique_number")
        ]
        indexes = [
            models.Index(
                fields=["organization", "status_category", "-last_activity_at", "-id"],
                name="ticket_org_cat_activity",
            ),
            models.Index(
                fields=["organization", "-last_activity_at", "-id"], name="ticket_org_activity"
            ),
            # The default view (all unresolved, by activity) walks this in order and stops at
            # the page size; with the category in the key it would sort every open ticket.
            models.Index(
                fields=["organization", "-last_activity_at", "-id"],
                name="ticket_org_open_activity",
                condition=models.Q(status_category__in=["new", "open", "pending"]),
            ),
            models.Index(
                fields=["organization", "assignee", "status_category", "-last_activity_at"],
                name="ticket_org_assignee",
            ),
            models.Index(
                fields=["organization", "team", "status_category", "-last_activity_at"],
                name="ticket_org_team",
            ),
            models.Index(fields=["organization", "-created_at", "-id"], name="ticket_org_created"),
            models.Index(fields=["organization", "requester"], name="ticket_org_requester"),
            models.Index(
                fields=["organization", "status", "status_changed_at", "id"],
                name="ticket_org_status_since",
            ),
            models.Index(
                fields=["organization", "last_customer_message_at", "id"],
                name="ticket_org_customer_msg",
            ),
            models.Index(
                fields=["organization", "last_agent_reply_at", "id"], name="ticket_org_agent_reply"
            ),
            # The rail's "Recently resolved" count: a week of a year's tickets, not all of them.
            models.Index(fields=["organization", "resolved_at"], name="ticket_org_resolved"),
        ]

    def __str__(self):
        return f"#{self.number} {self.subject}"

    @property
    def is_done(self) -> bool:
        return self.status_category in DONE_CATEGORIES


class Collaborator(TenantModel):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "contact"], name="collaborator_unique")
        ]


class Comment(TenantModel):
    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        PORTAL = "portal", "Portal"
        AGENT = "agent", "Agent"
        API = "api", "API"
        SYSTEM = "system", "System"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments")
    is_public = models.BooleanField(default=True)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.AGENT)
    body_text = models.TextField(blank=True)
    # Sanitised with nh3 before it is stored; the template marks it safe.
    body_html = models.TextField(blank=True)
    # The whole text as received (quoted history included) for mail; shown on demand.
    full_text = models.TextField(blank=True)
    # The Message-ID of the mail this comment came in as (no angle brackets); threading and the
    # References of our replies use it.
    message_id = models.CharField(max_length=255, blank=True)
    # Who an agent's public reply was addressed to, as the agent wrote it: {"to": [...],
    # "cc": [...], "bcc": [...]} (lowercased addresses); empty for everything else.
    recipients = models.JSONField(default=dict, blank=True)
    # An agent's reply by mail that the send guard held (tickets.services.send_guard): it stays
    # an internal note by its author until they send it; `held_reason` says why ("held: a newer
    # reply exists"), `held_after` is the id of the newest entry their mail answered (the held
    # page shows what came after it). Both empty on every other comment, and once it is sent.
    held_reason = models.CharField(max_length=200, blank=True)
    held_after = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["organization", "ticket", "created_at"], name="comment_org_ticket"
            ),
            models.Index(
                fields=["organization", "message_id"],
                name="comment_org_message_id",
                condition=~models.Q(message_id=""),
            ),
        ]

    @property
    def author_name(self) -> str:
        if self.author_user_id:
            return self.author_user.display_name  # type: ignore[union-attr]  # the id is set
        if self.author_contact_id:
            return self.author_contact.display_name  # type: ignore[union-attr]  # the id is set
        return "System"

    @property
    def by_agent(self) -> bool:
        return self.author_user_id is not None


def attachment_path(instance, filename):  # pragma: no cover - services pass the name explicitly
    return f"orgs/{instance.organization_id}/attachments/{instance.sha256}"


class Attachment(TenantModel):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    comment = models.ForeignKey(
        Comment, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_path, max_length=300)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=120, default="application/octet-stream")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_id = models.CharField(max_length=255, blank=True)
    inline = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class TicketEvent(TenantModel):
    """The ticket's timeline and audit log: every change, who made it and when."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        COMMENT = "comment", "Comment"
        STATUS = "status", "Status"
        PRIORITY = "priority", "Priority"
        ASSIGNEE = "assignee", "Assignee"
        TEAM = "team", "Team"
        COLLABORATOR = "collaborator", "Collaborator"
        REQUESTER = "requester", "Requester"
        SPAM = "spam", "Spam"
        MAIL = "mail", "Mail"
        WITHDRAWN = "withdrawn", "Reply withdrawn"
        VISIBILITY = "visibility", "Visibility"
        FORWARDED = "forwarded", "Forwarded"
        SLA = "sla", "SLA"  # a timer started, paused, stopped, warned or breached (sla app)
        TAGS = "tags", "Tags"
        FOLLOWER = "follower", "Follower"
        MERGED = "merged", "Merged"
        SPLIT = "split", "Split"
        CONTACT_MERGED = "contact_merged", "Contact merged"
        # One run of an automation rule, or one macro applied: the rows it changed carry the
        # same data["via"]["run"] and show under it (tickets.causes).
        AUTOMATION = "automation", "Automation"
        MACRO = "macro", "Macro"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Plain values only ({"from": "Open", "to": "Pending"}), readable after renames.
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["organization", "ticket", "created_at"], name="event_org_ticket")
        ]

    @property
    def actor_name(self) -> str:
        if self.actor_user_id:
            return self.actor_user.display_name  # type: ignore[union-attr]  # the id is set
        if self.actor_contact_id:
            return self.actor_contact.display_name  # type: ignore[union-attr]  # the id is set
        return "System"


class CannedResponse(TenantModel):
    name = models.CharField(max_length=120)
    body = models.TextField(help_text="Placeholders: {{ ticket_number }}, {{ requester_name }} …")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="canned_unique_name")
        ]

    def __str__(self):
        return self.name


class RemoteImageSender(TenantModel):
    """A sender whose mail shows its remote images (tickets.remote_images): an address
    (`news@shop.example`) or a whole domain (`shop.example`), lowercased."""

    pattern = models.CharField(max_length=254)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pattern"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "pattern"], name="remoteimagesender_unique"
            )
        ]

    def __str__(self):
        return self.pattern


class ContactEmail(TenantModel):
    """A further address of a contact (its primary one is Contact.email); mail from it is the
    contact's. An address belongs to one contact of a tenant: unique here, and the services
    refuse an address that is another contact's primary one (tickets.services.contacts)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="emails")
    email = models.EmailField(max_length=254)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"], name="contactemail_unique_email"
            )
        ]

    def __str__(self):
        return self.email


class Tag(TenantModel):
    """A label on tickets, per tenant; names are unique ignoring case ("VIP" is "vip")."""

    name = models.CharField(max_length=50)
    tickets = models.ManyToManyField(Ticket, through="TicketTag", related_name="tags")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                models.F("organization"), Lower("name"), name="tag_unique_name_ci"
            )
        ]

    def __str__(self):
        return self.name


class TicketTag(TenantModel):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "ticket", "tag"], name="tickettag_unique"
            )
        ]
        indexes = [models.Index(fields=["organization", "tag"], name="tickettag_org_tag")]


class Follower(TenantModel):
    """An agent who hears about a ticket as its assignee would (outbound_mail reads these)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="followers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "ticket", "user"], name="follower_unique"
            )
        ]


class SavedView(TenantModel):
    """A named list: the list's filters and sort (`query`, its URL parameters as strings) and
    columns, in the rail with its live count. Personal (an agent's own) or shared (no owner,
    made and kept by admins); each group has its own order (`position`)."""

    name = models.CharField(max_length=80)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    query = models.JSONField(default=dict)
    columns = models.JSONField(default=list)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                models.F("organization"),
                models.F("owner"),
                Lower("name"),
                condition=models.Q(owner__isnull=False),
                name="savedview_unique_personal_name",
            ),
            models.UniqueConstraint(
                models.F("organization"),
                Lower("name"),
                condition=models.Q(owner__isnull=True),
                name="savedview_unique_shared_name",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "owner", "position"], name="savedview_org_owner")
        ]

    def __str__(self):
        return self.name

    @property
    def is_shared(self) -> bool:
        return self.owner_id is None

    def list_query(self) -> str:
        """The list URL's query string that shows this view: its filters, columns and itself."""
        # Sorted: PostgreSQL's jsonb keeps no order, and one view should have one URL.
        filters = sorted(self.query.items())
        pairs = [*filters, *(("cols", c) for c in self.columns or [""]), ("sv", self.pk)]
        return urlencode(pairs)
