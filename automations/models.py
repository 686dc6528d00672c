"""Automations as data: rules (a trigger, conditions and actions, run in order), the log of each
run on a ticket, the round-robin pointer of each team, and macros.

Conditions and actions are JSON in the shapes `automations.schema` describes; the settings page
builds them from a form and validates every id they name against this tenant.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models import TenantModel


class Trigger(models.TextChoices):
    TICKET_CREATED = "ticket_created", "Ticket created"
    COMMENT_ADDED = "comment_added", "Comment added"
    STATUS_CHANGED = "status_changed", "Status changed"
    PRIORITY_CHANGED = "priority_changed", "Priority changed"
    ASSIGNED = "assigned", "Assigned or unassigned"
    SLA_WARNING = "sla_warning", "SLA warning"
    SLA_BREACHED = "sla_breached", "SLA breached"
    HOURS_SINCE_CREATED = "hours_since_created", "Hours since created"
    HOURS_SINCE_CUSTOMER = "hours_since_customer", "Hours since the last customer message"
    HOURS_SINCE_AGENT = "hours_since_agent", "Hours since the last agent reply"
    HOURS_IN_STATUS = "hours_in_status", "Hours in a status"


TIME_TRIGGERS = (
    Trigger.HOURS_SINCE_CREATED,
    Trigger.HOURS_SINCE_CUSTOMER,
    Trigger.HOURS_SINCE_AGENT,
    Trigger.HOURS_IN_STATUS,
)
# time trigger -> the Ticket column its hours count from (each indexed after the organization)
CLOCKS: dict[str, str] = {
    Trigger.HOURS_SINCE_CREATED: "created_at",
    Trigger.HOURS_SINCE_CUSTOMER: "last_customer_message_at",
    Trigger.HOURS_SINCE_AGENT: "last_agent_reply_at",
    Trigger.HOURS_IN_STATUS: "status_changed_at",
}


class Rule(TenantModel):
    name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0, help_text="Rules run in this order.")
    trigger = models.CharField(max_length=32, choices=Trigger.choices)
    # What narrows the trigger (automations.schema.TriggerOptions): sources, comment author and
    # visibility, the status or priority changed to, the SLA target, the hours of a time trigger.
    trigger_options = models.JSONField(default=dict, blank=True)
    conditions = models.JSONField(default=dict, blank=True)  # {"all": [...], "any": [...]}
    actions = models.JSONField(default=list, blank=True)  # [{"type": ..., ...}, ...]
    stop_processing = models.BooleanField(
        default=False, help_text="When this rule runs, later rules do not run for the event."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # A time rule's keyset cursor over its clock column (automations.services.scan): tickets
    # whose clock passed the threshold after (time_cursor_at, time_cursor_id) are still to fire.
    time_cursor_at = models.DateTimeField(null=True, blank=True)
    time_cursor_id = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="rule_unique_name")
        ]
        indexes = [
            models.Index(
                fields=["organization", "trigger", "position"],
                name="rule_org_trigger",
                condition=Q(enabled=True),
            ),
            models.Index(fields=["trigger"], name="rule_time", condition=Q(enabled=True)),
        ]

    def __str__(self):
        return self.name

    @property
    def is_time_based(self) -> bool:
        return self.trigger in TIME_TRIGGERS


class RuleRun(TenantModel):
    """One rule that matched one event (or one time period) on one ticket, and what each of its
    actions did. At most one per rule, ticket and origin: the loop guard and the time rules'
    once-per-period guard are this unique constraint."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "Applied"
        UNCHANGED = "unchanged", "Nothing to change"
        PARTIAL = "partial", "Some actions failed"
        FAILED = "failed", "Failed"

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    rule_name = models.CharField(max_length=120)  # as it was when it ran
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=40)  # the domain event's name, or "time"
    # The chain's originating event key, or "time:<the clock's value>" for a time rule.
    origin = models.CharField(max_length=80)
    depth = models.PositiveSmallIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    # [{"action": type, "outcome": "done" | "unchanged" | "failed", "detail": text}, ...]
    results = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    event_at = models.DateTimeField(null=True, blank=True)  # when the event happened
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "ticket", "origin"], name="rulerun_once")
        ]
        indexes = [
            models.Index(fields=["organization", "ticket", "created_at"], name="rulerun_ticket"),
            models.Index(fields=["organization", "rule", "-created_at"], name="rulerun_rule"),
            models.Index(
                fields=["organization", "-created_at"],
                name="rulerun_failed",
                condition=Q(outcome__in=["failed", "partial"]),
            ),
        ]


class RoundRobinPointer(TenantModel):
    """The last agent a team's round-robin gave a ticket to; locked while choosing the next, so
    two workers never give two tickets to the same turn."""

    team = models.OneToOneField("tenants.Team", on_delete=models.CASCADE, related_name="+")
    last_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )


class Macro(TenantModel):
    """A named set of actions (the rule action kinds) and an optional reply an agent applies in
    one click. Shared when `owner` is empty (admins manage those), else the owner's own."""

    name = models.CharField(max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    actions = models.JSONField(default=list, blank=True)
    reply_text = models.TextField(blank=True, help_text="Placeholders: {{ requester_name }} …")
    reply_public = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                condition=Q(owner__isnull=True),
                name="macro_unique_shared_name",
            ),
            models.UniqueConstraint(
                fields=["organization", "owner", "name"],
                condition=Q(owner__isnull=False),
                name="macro_unique_personal_name",
            ),
        ]

    def __str__(self):
        return self.name
