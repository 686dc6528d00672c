"""The agent workspace: ticket list, ticket page, reply, properties, bulk changes, new ticket,
attachment download and canned responses. Views parse, call one service and render."""

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from tenants.access import agent_required
from tenants.redirects import safe_next
from tenants.security_headers import remote_images_on_request
from tickets import contributions, placeholders, selectors
from tickets.forms import (
    BulkForm,
    NewTicketForm,
    PropertiesForm,
    ReplyForm,
    TicketFilterForm,
    agents_queryset,
)
from tickets.models import Attachment, CannedResponse, Priority, Status, Ticket
from tickets.services.attachments import Upload
from tickets.services.comments import comment_create
from tickets.services.contacts import contact_get_or_create
from tickets.services.tickets import (
    ticket_assign,
    ticket_change_priority,
    ticket_change_status,
    ticket_change_team,
    ticket_create,
)

# Images a browser shows without running anything; SVG is excluded (it can carry script).
INLINE_SAFE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def _filters(request) -> selectors.TicketFilters:
    form = TicketFilterForm(request.GET)
    form.is_valid()  # invalid values are dropped: a bad bookmark still shows a list
    data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    return selectors.TicketFilters(**data)


@require_GET
@agent_required
def ticket_list(request):
    filters = _filters(request)
    page = selectors.ticket_page(filters, request.user)
    params = request.GET.copy()
    params.pop("after", None)
    context = {
        "page": page,
        "filters": filters,
        "base_query": params.urlencode(),
        "statuses": list(Status.objects.all()),
        "priorities": list(Priority.objects.all()),
        "agents": list(agents_queryset()),
    }
    template = (
        "tickets/_list_rows.html"
        if request.htmx and request.htmx.target == "ticket-rows"
        else "tickets/list.html"
    )
    return render(request, template, context)


def _get_ticket(number: int) -> Ticket:
    try:
        return selectors.ticket_detail(number)
    except Ticket.DoesNotExist:
        raise Http404("No such ticket.") from None


def _detail_context(request, ticket, reply_form=None):
    return {
        "ticket": ticket,
        "reply_form": reply_form or ReplyForm(),
        "statuses": list(Status.objects.all()),
        "priorities": list(Priority.objects.all()),
        "agents": list(agents_queryset()),
        "canned": list(CannedResponse.objects.all()),
        "recent": selectors.requester_recent_tickets(ticket),
        # What the apps built on tickets show on this page (tickets.contributions).
        "comment_templates": contributions.comment_templates(),
        "sidebar_templates": contributions.sidebar_templates(),
    }


@require_GET
@agent_required
@remote_images_on_request
def ticket_detail(request, number: int):
    ticket = _get_ticket(number)
    return render(request, "tickets/detail.html", _detail_context(request, ticket))


@require_POST
@agent_required
def ticket_reply(request, number: int):
    ticket = _get_ticket(number)
    form = ReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        context = _detail_context(request, ticket, form)
        if request.htmx:
            return render(request, "tickets/_main.html", context)
        return render(request, "tickets/detail.html", context, status=400)
    uploads = [
        Upload(filename=f.name, content=f.read(), content_type=f.content_type or "")
        for f in form.cleaned_data["attachments"]
    ]
    internal = form.cleaned_data["internal"]
    comment_create(
        ticket=ticket,
        body_text=form.cleaned_data["body"],
        is_public=not internal,
        author_user=request.user,
        uploads=uploads,
        send_now=form.cleaned_data["send_now"],
    )
    if form.cleaned_data["status"]:
        ticket_change_status(
            ticket=ticket, status=form.cleaned_data["status"], actor_user=request.user
        )
    messages.success(request, "Internal note added." if internal else "Reply sent.")
    if request.htmx:
        context = _detail_context(request, _get_ticket(number))
        response = render(request, "tickets/_main.html", context)
        response["HX-Trigger"] = "ticket-changed"
        return response
    return redirect("tickets:detail", number=number)


@require_POST
@agent_required
def ticket_update(request, number: int):
    ticket = _get_ticket(number)
    form = PropertiesForm(request.POST)
    if form.is_valid():
        _apply_properties(ticket, form, request)
        messages.success(request, "Saved.")
    else:
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))  # type: ignore[arg-type]  # messages are str
    if request.htmx:
        context = _detail_context(request, _get_ticket(number))
        return render(request, "tickets/_sidebar.html", context)
    return redirect("tickets:detail", number=number)


def _apply_properties(ticket, form, request) -> None:
    data, user = form.cleaned_data, request.user
    if "status" in request.POST and data["status"]:
        ticket_change_status(ticket=ticket, status=data["status"], actor_user=user)
    if "priority" in request.POST and data["priority"]:
        ticket_change_priority(ticket=ticket, priority=data["priority"], actor_user=user)
    if "assignee" in request.POST:
        ticket_assign(ticket=ticket, assignee=data["assignee"], actor_user=user)
    if "team" in request.POST:
        ticket_change_team(ticket=ticket, team=data["team"], actor_user=user)


@require_POST
@agent_required
def ticket_bulk(request):
    form = BulkForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))  # type: ignore[arg-type]  # messages are str
        return redirect(safe_next(request, reverse("tickets:list")))
    tickets = list(Ticket.objects.filter(number__in=form.cleaned_data["tickets"]))
    for ticket in tickets:
        _apply_properties(ticket, form, request)
    messages.success(request, f"Updated {len(tickets)} ticket{'s' if len(tickets) != 1 else ''}.")
    return redirect(safe_next(request, reverse("tickets:list")))


@agent_required
def ticket_new(request):
    form = NewTicketForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        requester = contact_get_or_create(
            organization=request.organization,
            email=data["requester_email"],
            name=data["requester_name"],
        )
        ticket = ticket_create(
            organization=request.organization,
            subject=data["subject"],
            requester=requester,
            body_text=data["body"],
            actor_user=request.user,
            priority=data["priority"],
            team=data["team"],
            assignee=data["assignee"],
            uploads=[
                Upload(filename=f.name, content=f.read(), content_type=f.content_type or "")
                for f in data["attachments"]
            ],
        )
        messages.success(request, f"Ticket #{ticket.number} created.")
        return redirect("tickets:detail", number=ticket.number)
    status = 400 if request.method == "POST" else 200
    return render(request, "tickets/new.html", {"form": form}, status=status)


@require_GET
@agent_required
def attachment_download(request, number: int, pk: int):
    attachment = Attachment.objects.filter(pk=pk, ticket__number=number).first()
    if attachment is None:
        raise Http404("No such attachment.")
    inline = attachment.content_type in INLINE_SAFE_TYPES
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=not inline,
        filename=attachment.filename,
        content_type=attachment.content_type if inline else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
@agent_required
def canned_render(request, number: int, pk: int):
    ticket = _get_ticket(number)
    canned = CannedResponse.objects.filter(pk=pk).first()
    if canned is None:
        raise Http404("No such canned response.")
    text = placeholders.fill(canned.body, placeholders.ticket_context(ticket, request.user))
    return JsonResponse({"name": canned.name, "body": text})


def home(request):
    if request.user.is_authenticated and request.membership:
        return redirect("tickets:list")
    return redirect("login")


def health(request):
    return HttpResponse("ok", content_type="text/plain")


def csrf_failure(request, reason=""):
    return render(request, "403_csrf.html", status=403)
