"""The measured agent's 20 saved views for bench/search.py: 10 personal and 10 shared, each a
different combination of the list's filters (made with VIEWS' `saved_view_create`)."""


def _queries(org, user) -> tuple[list[dict], list[dict]]:
    from tenants.models import Team
    from tickets.models import Priority

    teams = {t.name: str(t.pk) for t in Team.objects.all()}
    prio = {p.name: str(p.pk) for p in Priority.objects.all()}
    personal = [
        {"view": "mine"},
        {"view": "open", "team": teams["Billing"]},
        {"view": "open", "priority": prio["Urgent"]},
        {"view": "pending"},
        {"view": "unassigned"},
        {"view": "open", "only": "sla_breached"},
        {"view": "all", "category": "new"},
        {"view": "open", "assignee": "none", "team": teams["Technical"]},
        {"view": "resolved"},
        {"view": "open", "only": "sla_due_1h"},
    ]
    shared = [{"view": "open", "team": pk} for pk in teams.values()]
    shared += [
        {"view": "all", "priority": prio["High"]},
        {"view": "open", "category": "pending", "team": teams["Sales"]},
        {"view": "open", "tag": "vip"},
        {"view": "open", "q": "refund"},
        {"view": "open", "assignee": "me", "priority": prio["High"]},
    ]
    return personal, shared


def ensure_saved_views(org, user) -> int:
    """Creates the views once; returns how many the agent sees (0 before SavedView exists)."""
    try:
        from tickets.models import SavedView
        from tickets.services.saved_views import saved_view_create
    except ImportError:
        print("saved views: tickets.SavedView does not exist yet")
        return 0
    from tenants.scoping import tenant_scope

    with tenant_scope(org):
        mine = SavedView.objects.filter(owner=user)
        shared = SavedView.objects.filter(owner__isnull=True)
        if mine.count() < 10 or shared.count() < 10:
            mine.delete()
            shared.delete()
            personal_queries, shared_queries = _queries(org, user)
            columns = ["requester", "status", "priority", "assignee", "updated"]
            for i, query in enumerate(personal_queries):
                saved_view_create(
                    organization=org, owner=user, name=f"Mine {i}", query=query, columns=columns
                )
            for i, query in enumerate(shared_queries):
                saved_view_create(
                    organization=org, owner=None, name=f"Team {i}", query=query, columns=columns
                )
        return mine.count() + shared.count()
