"""The draft endpoint: GET and POST `/agent/tickets/<number>/draft/` (live.drafts holds the rules).

GET answers the agent's own draft as JSON, or 204 when there is none; POST saves the form's
`body` and `internal` (an empty body deletes) and answers the same JSON (204 after a delete).
"""

from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from live.drafts import DraftTooLarge, draft_get, draft_save
from live.models import Draft
from tenants.access import agent_required
from tickets.models import Ticket


@require_http_methods(["GET", "POST"])
@agent_required
def ticket_draft(request, number: int):
    ticket = _get_ticket(number)
    if request.method == "GET":
        return _draft_response(draft_get(ticket=ticket, user=request.user))
    try:
        draft = draft_save(
            ticket=ticket,
            user=request.user,
            body=request.POST.get("body", ""),
            internal=request.POST.get("internal", "") in ("1", "true", "on"),
        )
    except DraftTooLarge as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return _draft_response(draft)


def _get_ticket(number: int) -> Ticket:
    # The tenant middleware's scope: another tenant's ticket of the same number is not found.
    ticket = Ticket.objects.filter(number=number).only("id", "number", "organization_id").first()
    if ticket is None:
        raise Http404("No such ticket.")
    return ticket


def _draft_response(draft: Draft | None) -> HttpResponse:
    if draft is None:
        return HttpResponse(status=204)
    return JsonResponse(
        {"body": draft.body, "internal": draft.internal, "updated_at": draft.updated_at.isoformat()}
    )
