"""The search results: GET /agent/search/?q=... A number jumps to its ticket; otherwise the
best 20 tickets with highlighted snippets, or, when the top bar's htmx asks, its dropdown of
the best 8. Any input is a query (search.query drops what it cannot use), never an error."""

from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from search import selectors
from search.query import MAX_QUERY_CHARS
from tenants.access import agent_required


@require_GET
@agent_required
def results(request):
    q = request.GET.get("q", "")[: MAX_QUERY_CHARS * 2]
    dropdown = bool(request.htmx)
    found = selectors.search_tickets(
        q, limit=selectors.DROPDOWN if dropdown else selectors.RESULTS_PAGE
    )
    if found.jump is not None and not dropdown:
        return redirect("tickets:detail", number=found.jump.number)
    context = {"q": q, "search_q": q, "results": found}
    if dropdown:
        return render(request, "search/_dropdown.html", context)
    return render(request, "search/results.html", context)
