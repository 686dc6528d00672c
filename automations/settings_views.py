"""Settings -> Automations (tenant admins only): the rules in the order they run, each rule's
editor with its preview, and the run log. Views parse, call one service, render; another
tenant's rule is a 404 (the scoped managers never find it); a bad POST gets its messages
beside the rows, never a 500."""

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from automations import action_text, preview, settings_services
from automations.forms import (
    GROUPS,
    RuleEditor,
    RunFilterForm,
    condition_ops_json,
    saved_problems,
)
from automations.models import Rule, RuleRun, Trigger
from automations.schema import ActionType
from sla.models import Target
from tenants import confirm
from tenants.access import admin_required
from tickets import events
from tickets.models import Priority, Status, Ticket

FAILED = (RuleRun.Outcome.FAILED, RuleRun.Outcome.PARTIAL)
FAILURES_SINCE = timedelta(days=7)
RUNS_PER_PAGE = 50


def _rule(pk) -> Rule:
    rule = Rule.objects.filter(pk=pk).first() if str(pk).isdigit() else None
    if rule is None:
        raise Http404("No such rule.")
    return rule


# -- the list ------------------------------------------------------------------------------------


@require_GET
@admin_required
def rules(request):
    last_run = RuleRun.objects.filter(rule=OuterRef("pk")).order_by("-created_at", "-id")
    rows = list(Rule.objects.annotate(last_run_at=Subquery(last_run.values("created_at")[:1])))
    failures = dict(
        RuleRun.objects.filter(outcome__in=FAILED, created_at__gte=timezone.now() - FAILURES_SINCE)
        .values_list("rule_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    names = action_text.names_for([r.actions for r in rows], request.organization)
    labels = _trigger_names()
    for row in rows:
        row.failures = failures.get(row.pk, 0)  # type: ignore[attr-defined]  # for the template
        row.trigger_text = trigger_summary(row, labels)  # type: ignore[attr-defined]  # for the template
        row.condition_count = _condition_count(row)  # type: ignore[attr-defined]  # for the template
        row.action_texts = [  # type: ignore[attr-defined]  # for the template
            action_text.describe(a, names=names) for a in _actions(row)
        ]
    return render(request, "automations/rules/list.html", {"rows": rows})


def _condition_count(rule: Rule) -> int:
    groups = rule.conditions.values() if isinstance(rule.conditions, dict) else []
    return sum(len(group) for group in groups if isinstance(group, list))


def _actions(rule: Rule) -> list:
    return rule.actions if isinstance(rule.actions, list) else []


def _trigger_names() -> dict[str, dict[int, str]]:
    return {
        "status": dict(Status.objects.values_list("id", "name")),
        "priority": dict(Priority.objects.values_list("id", "name")),
    }


def _named(ids, names: dict[int, str], kind: str) -> str:
    found = [names.get(i, f"a deleted {kind}") for i in ids if isinstance(i, int)]
    return " or ".join(f"“{n}”" for n in found)


HOURS_SINCE: dict[str, str] = {
    Trigger.HOURS_SINCE_CREATED: "since created",
    Trigger.HOURS_SINCE_CUSTOMER: "since the last customer message",
    Trigger.HOURS_SINCE_AGENT: "since the last agent reply",
}


def trigger_summary(rule: Rule, names: dict[str, dict[int, str]]) -> str:
    """ "Ticket created from Email or Portal", "72 hours in “Pending”"."""
    options = rule.trigger_options if isinstance(rule.trigger_options, dict) else {}
    label = rule.get_trigger_display()
    trigger = rule.trigger
    if trigger == Trigger.TICKET_CREATED and options.get("sources"):
        sources = dict(Ticket.Source.choices)
        return f"{label} from " + " or ".join(sources.get(s, s) for s in options["sources"])
    if trigger == Trigger.COMMENT_ADDED:
        by = {"customer": " by a customer", "agent": " by an agent"}.get(
            str(options.get("author")), ""
        )
        kind = {"public": ", public", "internal": ", internal"}.get(
            str(options.get("visibility")), ""
        )
        return f"{label}{by}{kind}"
    if trigger == Trigger.STATUS_CHANGED and options.get("to_status_ids"):
        return f"{label} to {_named(options['to_status_ids'], names['status'], 'status')}"
    if trigger == Trigger.PRIORITY_CHANGED and options.get("to_priority_ids"):
        to = _named(options["to_priority_ids"], names["priority"], "priority")
        return f"{label} to {to}"
    if trigger == Trigger.ASSIGNED:
        return {"assigned": "Assigned", "unassigned": "Unassigned"}.get(
            str(options.get("change")), label
        )
    if trigger in (Trigger.SLA_WARNING, Trigger.SLA_BREACHED) and options.get("targets"):
        targets = dict(Target.choices)
        return f"{label} ({', '.join(targets.get(t, t).lower() for t in options['targets'])})"
    hours = options.get("hours")
    if trigger == Trigger.HOURS_IN_STATUS:
        status = _named([options.get("status_id")], names["status"], "status") or "a status"
        return f"{hours} hours in {status}"
    if trigger in HOURS_SINCE:
        return f"{hours} hours {HOURS_SINCE[trigger]}"
    return label


@require_POST
@admin_required
def rule_enabled(request, pk: int):
    rule = _rule(pk)
    enabled = request.POST.get("enabled") == "1"
    settings_services.rule_set_enabled(rule=rule, enabled=enabled)
    messages.success(request, f"Rule “{rule.name}” {'enabled' if enabled else 'disabled'}.")
    return redirect("automations:rules")


@require_POST
@admin_required
def rule_move(request, pk: int):
    direction = -1 if request.POST.get("direction") == "up" else 1
    settings_services.rule_move(rule=_rule(pk), direction=direction)
    return redirect("automations:rules")


@require_POST
@admin_required
def rule_delete(request, pk: int):
    rule = _rule(pk)
    question = f"Delete the rule “{rule.name}”?"
    detail = "Its run log goes with it; the tickets' timelines keep what it did."
    cancel_url = reverse("automations:rules")
    if asking := confirm.unconfirmed(request, confirm.Confirmation(question, cancel_url, detail)):
        return asking
    settings_services.rule_delete(rule=rule)
    messages.success(request, f"Rule “{rule.name}” deleted.")
    return redirect("automations:rules")


# -- the editor ----------------------------------------------------------------------------------

ROW_GROUPS = {prefix for prefix, _label in GROUPS} | {"actions"}


@admin_required
def rule_edit(request, pk: int | None = None):
    rule = _rule(pk) if pk is not None else None
    organization = request.organization
    if request.method != "POST":
        editor = RuleEditor(organization=organization, rule=rule)
        problems = saved_problems(rule, organization=organization) if rule else []
        return _editor_page(request, editor, problems=problems)
    editor = RuleEditor(request.POST, organization=organization, rule=rule)
    if request.POST.get("add_row") in ROW_GROUPS:
        return _editor_page(request, editor.with_row_added(request.POST["add_row"]))
    if "preview" in request.POST:
        return _preview_page(request, editor)
    if not editor.is_valid():
        return _editor_page(request, editor, status=400)
    saved = settings_services.rule_save(
        organization=organization, rule=rule, actor_user=request.user, **editor.values()
    )
    messages.success(request, f"Rule “{saved.name}” saved.")
    return redirect("automations:rule", pk=saved.pk)


def _preview_page(request, editor: RuleEditor):
    if not editor.conditions_valid():
        return _editor_page(request, editor, status=400)
    form = editor.form
    trigger, options = "", {}
    if form.is_valid():
        trigger, options = form.cleaned_data["trigger"], form.trigger_options()
    found = preview.matching_open_tickets(
        conditions=editor.conditions, trigger=trigger, trigger_options=options, now=timezone.now()
    )
    return _editor_page(request, editor, preview=found)


def _editor_page(request, editor: RuleEditor, *, status: int = 200, **context):
    return render(
        request,
        "automations/rules/edit.html",
        {
            "editor": editor,
            "rule": editor.rule,
            "condition_ops": condition_ops_json(),
            "problems": [],
            "preview": None,
            **context,
        },
        status=status,
    )


# -- the run log ---------------------------------------------------------------------------------


EVENT_TEXT = {
    events.TICKET_CREATED: "Ticket created",
    events.COMMENT_ADDED: "Comment added",
    events.STATUS_CHANGED: "Status changed",
    events.PRIORITY_CHANGED: "Priority changed",
    events.ASSIGNED: "Assigned or unassigned",
    events.SLA_WARNING: "SLA warning",
    events.SLA_BREACHED: "SLA breached",
    "time": "Time",
}


@require_GET
@admin_required
def runs(request):
    """Recent runs, newest first, of every rule or one, or only the failed ones; a page is one
    query whatever it holds (the next page is known by reading one row more)."""
    all_rules = list(Rule.objects.only("name", "position"))
    filters = RunFilterForm(request.GET, rules=all_rules)
    rule_id, failed_only = filters.values()
    page = max(int(request.GET["page"]) if request.GET.get("page", "").isdigit() else 1, 1)
    found = RuleRun.objects.select_related("ticket").order_by("-created_at", "-id")
    if rule_id is not None:
        found = found.filter(rule_id=rule_id)
    if failed_only:
        found = found.filter(outcome__in=FAILED)
    start = (page - 1) * RUNS_PER_PAGE
    rows = list(found[start : start + RUNS_PER_PAGE + 1])
    labels = dict(ActionType.choices)
    for row in rows:
        row.event_text = EVENT_TEXT.get(row.event, row.event)  # type: ignore[attr-defined]  # for the template
        row.result_rows = [  # type: ignore[attr-defined]  # for the template
            (labels.get(str(r.get("action")), r.get("action")), r.get("outcome"), r.get("detail"))
            for r in (row.results if isinstance(row.results, list) else [])
            if isinstance(r, dict)
        ]
    wanted = (("rule", rule_id), ("failed", "1" if failed_only else ""))
    query = urlencode({k: v for k, v in wanted if v})
    return render(
        request,
        "automations/rules/runs.html",
        {
            "rows": rows[:RUNS_PER_PAGE],
            "filters": filters,
            "failed_only": failed_only,
            "page": page,
            "has_next": len(rows) > RUNS_PER_PAGE,
            "query": query,
        },
    )
