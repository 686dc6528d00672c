"""Admin changes to automation rules (Settings -> Automations): save (a new rule goes last),
delete, move up or down, enable or disable. Each is one transaction; once it commits, the
workers' cached rules of the tenant are dropped (`rules_cache.bump`), so the next event runs
with the change and never with a version read before it committed."""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from automations import rules_cache
from automations.models import Rule
from tickets.settings_services import position_move


def _rules_follow(organization_id: int) -> None:
    transaction.on_commit(lambda: rules_cache.bump(organization_id))


@transaction.atomic
def rule_save(
    *,
    organization,
    rule: Rule | None,
    actor_user,
    name: str,
    enabled: bool,
    trigger: str,
    trigger_options: dict,
    conditions: dict,
    actions: list,
    stop_processing: bool,
) -> Rule:
    """Create or edit a rule. A time rule whose clock changed (another trigger, status or
    threshold) starts its scan again from the start, as a new rule would; each ticket still
    fires at most once per period (RuleRun's unique origin)."""
    if rule is None:
        top = Rule.objects.aggregate(m=Max("position"))["m"]
        rule = Rule(
            organization=organization,
            position=0 if top is None else top + 1,
            created_by=actor_user,
        )
    elif (rule.trigger, rule.trigger_options) != (trigger, trigger_options):
        rule.time_cursor_at, rule.time_cursor_id = None, 0
    rule.name, rule.enabled, rule.stop_processing = name, enabled, stop_processing
    rule.trigger, rule.trigger_options = trigger, trigger_options
    rule.conditions, rule.actions = conditions, actions
    # The engine caches a rule's compiled conditions by (id, updated_at).
    rule.updated_at = timezone.now()
    rule.save()
    _rules_follow(organization.pk)
    return rule


@transaction.atomic
def rule_set_enabled(*, rule: Rule, enabled: bool) -> None:
    rule.enabled, rule.updated_at = enabled, timezone.now()
    rule.save(update_fields=["enabled", "updated_at"])
    _rules_follow(rule.organization_id)


@transaction.atomic
def rule_move(*, rule: Rule, direction: int) -> None:
    """Swap a rule with its neighbour (direction -1 up, +1 down): rules run in this order."""
    position_move(model=Rule, row=rule, direction=direction)
    _rules_follow(rule.organization_id)


@transaction.atomic
def rule_delete(*, rule: Rule) -> None:
    """The rule and its run log go; the tickets' timeline rows of its runs stay."""
    organization_id = rule.organization_id
    rule.delete()
    _rules_follow(organization_id)
