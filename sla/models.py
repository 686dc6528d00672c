"""SLA as data: business calendars with holidays, policies (which tickets, which targets, when to
warn) and the timers (TicketSLA) running on tickets, one row per ticket and target."""

from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone

from tenants.models import TenantModel


class Calendar(TenantModel):
    """When the clock runs: a time zone and working intervals per weekday.

    `weekly` maps a weekday ("0" is Monday .. "6") to a list of ["HH:MM", "HH:MM"] intervals
    ("24:00" ends a day); a missing or empty weekday is closed.
    """

    name = models.CharField(max_length=100)
    timezone = models.CharField(max_length=64, default="UTC")
    weekly = models.JSONField(default=dict, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="sla_calendar_unique"),
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(is_default=True),
                name="sla_calendar_one_default",
            ),
        ]

    def __str__(self):
        return self.name


class Holiday(TenantModel):
    """A date with its own working intervals (`intervals` as one weekday of Calendar.weekly;
    empty when closed all day)."""

    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    intervals = models.JSONField(default=list, blank=True)
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "calendar", "date"], name="sla_holiday_unique"
            )
        ]

    def __str__(self):
        return f"{self.date} {self.name}".strip()


class Policy(TenantModel):
    """Which tickets get which targets. The first policy by `order` whose conditions all hold
    applies; an empty condition holds for every ticket.

    Conditions are lists: `priority_ids`, `customer_ids`, `team_ids` (ids of this tenant's
    rows), `sources` (Ticket.Source values) and `customer_domains` (the requester's email
    domain, lower case). Targets are business minutes; None means no such timer. The warning
    comes at `warn_percent` of the target elapsed or `warn_minutes_before` due, whichever is
    earlier; neither set means no warning.
    """

    name = models.CharField(max_length=100)
    order = models.PositiveIntegerField(default=0)
    calendar = models.ForeignKey(Calendar, on_delete=models.PROTECT, related_name="policies")
    priority_ids = models.JSONField(default=list, blank=True)
    customer_ids = models.JSONField(default=list, blank=True)
    team_ids = models.JSONField(default=list, blank=True)
    sources = models.JSONField(default=list, blank=True)
    customer_domains = models.JSONField(default=list, blank=True)
    first_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    next_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)
    warn_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    warn_minutes_before = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["order", "id"]
        verbose_name_plural = "policies"
        indexes = [models.Index(fields=["organization", "order", "id"], name="sla_policy_order")]

    def __str__(self):
        return self.name


class Target(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    NEXT_RESPONSE = "next_response", "Next response"
    RESOLUTION = "resolution", "Resolution"


class TicketSLA(TenantModel):
    """One timer: a ticket's target under its policy.

    Running while `stopped_at` is None. `paused_seconds` is the business time spent paused
    (the due time has already moved by it); `paused_since` is set while paused, and `due_at`
    then holds the due time as it stood when the pause began. `spent_seconds` is the business
    time counted before the current run (resolution restarts on reopen with it). `warn_at` is
    precomputed for the scan, at a working instant of the calendar.
    """

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="sla")
    policy = models.ForeignKey(Policy, null=True, on_delete=models.SET_NULL, related_name="+")
    target = models.CharField(max_length=16, choices=Target.choices)
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    warn_at = models.DateTimeField(null=True, blank=True)
    paused_seconds = models.PositiveIntegerField(default=0)
    paused_since = models.DateTimeField(null=True, blank=True)
    spent_seconds = models.PositiveIntegerField(default=0)
    stopped_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "ticket", "target"], name="sla_ticketsla_unique"
            )
        ]
        indexes = [
            # The list's "breached" and "due within 1 hour" filters and the saved views that
            # count them: a tenant's running timers only (a few of a year's), by ticket.
            models.Index(
                fields=["organization", "ticket"],
                name="sla_ticketsla_running",
                condition=Q(stopped_at__isnull=True),
                # What the list's "breached" and "due within the hour" filters test, so that
                # they read the index alone (the rail counts them for every saved view).
                include=["breached_at", "due_at", "paused_since"],
            ),
            # The scan: open timers by due time, and by warning time (a paused timer is left
            # out of both by the condition, so the scan never sees it).
            models.Index(
                fields=["organization", "due_at"],
                name="sla_ticketsla_due",
                condition=Q(
                    stopped_at__isnull=True, breached_at__isnull=True, paused_since__isnull=True
                ),
            ),
            models.Index(
                fields=["organization", "warn_at"],
                name="sla_ticketsla_warn",
                condition=Q(
                    stopped_at__isnull=True,
                    warned_at__isnull=True,
                    breached_at__isnull=True,
                    paused_since__isnull=True,
                    warn_at__isnull=False,
                ),
            ),
        ]

    def __str__(self):
        return f"{self.target} due {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def is_running(self) -> bool:
        return self.stopped_at is None

    @property
    def is_paused(self) -> bool:
        return self.paused_since is not None

    @property
    def met(self) -> bool:
        """Stopped in time."""
        return self.stopped_at is not None and self.breached_at is None
