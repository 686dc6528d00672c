"""Reports as data: one TicketFact per ticket (its figures, in the tenant's days and in business
time where an SLA calendar applies), DailyCount rows summed from the facts per day, team and
channel, and the bookkeeping of the beat task that keeps both current (RollupState per tenant,
RollupCursor: how far the ticket timeline has been read).

Facts follow the ticket's current team, assignee and channel: moving a ticket to another team
moves its history with it, as the list's filters do."""

from django.conf import settings
from django.db import models

from tenants.models import TenantModel


class SlaOutcome(models.TextChoices):
    NONE = "", "No timer"
    RUNNING = "running", "Running"
    MET = "met", "Met"
    BREACHED = "breached", "Breached"


class TicketFact(TenantModel):
    """One ticket's figures. Days are local dates in the tenant's time zone; durations are
    seconds, business seconds when `business_time` (the ticket's SLA calendar applies)."""

    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(
        "tenants.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=16)
    created_day = models.DateField()
    created_weekday = models.PositiveSmallIntegerField()  # 0 is Monday
    created_hour = models.PositiveSmallIntegerField()
    first_response_day = models.DateField(null=True, blank=True)
    first_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    resolved_day = models.DateField(null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(null=True, blank=True)
    business_time = models.BooleanField(default=False)
    replies = models.PositiveIntegerField(default=0)  # public replies by agents
    reopens = models.PositiveIntegerField(default=0)  # done -> not done again
    # Each SLA target's outcome and the day it was decided (stopped in time, or breached).
    sla_first_response = models.CharField(max_length=8, blank=True, choices=SlaOutcome.choices)
    sla_first_response_day = models.DateField(null=True, blank=True)
    sla_next_response = models.CharField(max_length=8, blank=True, choices=SlaOutcome.choices)
    sla_next_response_day = models.DateField(null=True, blank=True)
    sla_resolution = models.CharField(max_length=8, blank=True, choices=SlaOutcome.choices)
    sla_resolution_day = models.DateField(null=True, blank=True)

    class Meta:
        # One per day the report counts a ticket on, so that the rows of any range are found
        # through them (a bitmap OR), never by reading all of the tenant's facts.
        indexes = [
            models.Index(fields=["organization", "created_day"], name="reports_fact_created"),
            *(
                models.Index(
                    fields=["organization", column],
                    name=f"reports_fact_{short}",
                    condition=models.Q(**{f"{column}__isnull": False}),
                )
                for column, short in (
                    ("resolved_day", "resolved"),
                    ("first_response_day", "first_resp"),
                    ("sla_first_response_day", "sla_fr"),
                    ("sla_next_response_day", "sla_nr"),
                    ("sla_resolution_day", "sla_res"),
                )
            ),
        ]


class DailyCount(TenantModel):
    """Tickets created and resolved on one local day, per team and channel: the facts summed
    (`reports.services.rollups`). The open backlog at the end of a day is every earlier
    day's created minus resolved."""

    day = models.DateField()
    team = models.ForeignKey(
        "tenants.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=16)
    created = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["organization", "day"], name="reports_daily_day")]


class RollupState(TenantModel):
    """One per tenant: locked while its rollups are written (so two writers never count a day
    twice), when they were last brought up to date, and their version (one up per write: the
    key of the cached reports, `reports.selectors.report_cached`)."""

    refreshed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="reports_state_unique")
        ]


class RollupCursor(models.Model):
    """Not a tenant's row: the platform's position in the TicketEvent sequence, up to which
    every tenant's facts are current (`reports.services.rollups.rollups_refresh`)."""

    last_event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
