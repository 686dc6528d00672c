"""GET /agent/reports/: the report for admins (every team) and team managers (the teams they
manage); anyone else gets the 404 of every page they may not see. `?format=csv&chart=<name>`
downloads one chart's table. Bad filters are a 400 with the form's messages."""

from urllib.parse import urlencode

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from reports import charts
from reports.forms import FORMATS, ReportForm
from reports.selectors import Report, report_cached
from reports.services.facts import tenant_zone
from reports.tables import Table, tables
from tenants.access import agent_required
from tenants.models import Membership, Team, TeamMember, User


def _visible_teams(membership: Membership) -> tuple[list[tuple[int, str]], bool]:
    """(the teams this person may report on, whether that is every team); none: no access."""
    if membership.is_admin:
        return list(Team.objects.order_by("name").values_list("pk", "name")), True
    managed = TeamMember.objects.filter(user_id=membership.user_id, is_manager=True)
    rows = managed.order_by("team__name").values_list("team_id", "team__name")
    return list(rows), False


@agent_required
def index(request):
    teams, all_teams = _visible_teams(request.membership)
    if not all_teams and not teams:
        raise Http404("No such page.")
    zone = tenant_zone(request.organization)
    form = ReportForm(
        request.GET, teams=teams, all_teams=all_teams, today=timezone.now().astimezone(zone).date()
    )
    wanted = request.GET.get("format", "")
    if wanted not in FORMATS:
        form.is_valid()
        form.add_error(None, "The format must be html or csv.")
    if not form.is_valid():
        return render(request, "reports/index.html", {"form": form}, status=400)
    result, refreshed_at = report_cached(form.filters(), organization_id=request.organization.pk)
    built = tables(result, team_names=dict(teams), agent_names=_agent_names(result))
    if wanted == "csv":
        return _csv(request, form, built)
    context = {
        "form": form,
        "report": result,
        "tables": built,
        "charts": charts.report_charts(result),
        "refreshed_at": refreshed_at,
        "zone": zone,
        "query": _query(form),
    }
    return render(request, "reports/index.html", context)


def _query(form: ReportForm) -> str:
    """The shown report's parameters, for its CSV links."""
    data = form.cleaned_data
    values = {"start": data["start"], "end": data["end"], "team": data.get("team") or ""}
    return urlencode({**values, "channel": data.get("channel") or ""})


def _agent_names(result: Report) -> dict[int, str]:
    ids = [pk for pk in result.by_agent if pk is not None]
    users = User.objects.filter(pk__in=ids) if ids else User.objects.none()
    return {user.pk: user.display_name for user in users}


def _csv(request, form: ReportForm, built: dict[str, Table]):
    table = built.get(request.GET.get("chart", ""))
    if table is None:
        names = ", ".join(built)
        form.add_error(None, f"Choose the chart to download: one of {names}.")
        return render(request, "reports/index.html", {"form": form}, status=400)
    filters = form.filters()
    response = HttpResponse(table.csv(), content_type="text/csv; charset=utf-8")
    filename = f"{table.name}-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
