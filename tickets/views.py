"""The agent workspace: ticket list, ticket page, reply, properties, bulk changes, new ticket,
attachment download and canned responses. Views parse, call one service and render."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenants.access import agent_required
from tenants.redirects import safe_next
from tickets import (
    contributions,
    placeholders,
    remote_images,
    reply_delivery,
    rich_text,
    saved_views,
    selectors,
)
from tickets.downloads import attachment_response
from tickets.forms import (
    BULK_LIMIT,
    SEEN_MESSAGE,
    BulkForm,
    HeldReplyForm,
    NewTicketForm,
    PropertiesForm,
    ReplyForm,
    TicketTagsForm,
    agents_queryset,
    filters_from_params,
)
from tickets.models import Attachment, CannedResponse, Comment, Priority, Status, Tag, Ticket
from tickets.services.attachments import Upload
from tickets.services.bulk_edit import tickets_bulk_update
from tickets.services.comments import (
    CommentNotChangeable,
    comment_set_public,
    comment_withdraw,
)
from tickets.services.contacts import contact_get_or_create
from tickets.services.followers import ticket_follow, ticket_unfollow
from tickets.services.send_guard import (
    ReplyHeld,
    Seen,
    collides,
    held_reply_send,
    reply_create_guarded,
)
from tickets.services.tags import ticket_tags_add, ticket_tags_remove
from tickets.services.tickets import (
    ticket_assign,
    ticket_change_priority,
    ticket_change_status,
    ticket_change_team,
    ticket_create,
)


@require_GET
@agent_required
def ticket_list(request):
    filters = filters_from_params(request.GET)
    columns = saved_views.columns_from_params(request.GET)
    saved_view = _opened_view(request)
    page = selectors.ticket_page(filters, request.user)
    params = request.GET.copy()
    params.pop("after", None)
    context = {
        "page": page,
        "filters": filters,
        "base_query": params.urlencode(),
        "columns": columns,
        "column_count": 3 + len(columns),  # the selection box, the number and the subject
        "all_columns": saved_views.COLUMNS,
        # The saved view this list was opened from (a rail entry), and whether it shows more.
        "saved_view": saved_view,
        "saved_view_changed": saved_view is not None
        and saved_views.query_differs(saved_view, filters, columns),
        "can_share": request.membership.is_admin,
        # What the apps built on tickets add to the list (tickets.contributions).
        "list_row_templates": contributions.list_row_templates(),
        "list_filters": list(contributions.list_filters().values()),
        "list_sorts": list(contributions.list_sorts().values()),
        # Read only if the template shows them: the rows' partial asks for no options.
        "list_params": SimpleLazyObject(lambda: _param_selects(filters)),
        "bulk_action_templates": contributions.bulk_action_templates(),
        "statuses": list(Status.objects.all()),
        "priorities": list(Priority.objects.all()),
        "agents": list(agents_queryset()),
        "tags": list(Tag.objects.all()),
        # static/js/app.js asks for the first page's rows again this often (live updates later).
    }
    template = (
        "tickets/_list_rows.html"
        if request.htmx and request.htmx.target == "ticket-rows"
        else "tickets/list.html"
    )
    return render(request, template, context)


def _opened_view(request) -> dict | None:
    """`?sv=<id>`: one of the agent's rail entries (cached with the rail, so no query of its
    own); another agent's personal view or another tenant's is no view here: 404."""
    if "sv" not in request.GET:
        return None
    pk = saved_views.saved_view_id(request.GET)
    rail = selectors.rail_counts(request.organization.pk, request.user)
    found = next((v for v in rail["views"] if v["pk"] == pk), None)
    if found is None:
        raise Http404("No such view.")
    return found


@require_GET
@agent_required
def ticket_rail(request):
    """The left rail alone, with fresh counts: pages refresh theirs from it (static/js/app.js)."""
    return render(request, "_rail.html")


def _param_selects(filters: selectors.TicketFilters) -> list[dict]:
    """The selects of the contributed parameter filters that offer options."""
    selects = []
    for param in contributions.list_params().values():
        groups = param.choices()
        if groups:
            value = filters.params.get(param.name, "")
            selects.append(
                {"name": param.name, "label": param.label, "groups": groups, "value": value}
            )
    return selects


def _get_ticket(number: int) -> Ticket:
    try:
        return selectors.ticket_detail(number)
    except Ticket.DoesNotExist:
        raise Http404("No such ticket.") from None


def _detail_context(request, ticket, reply_form=None):
    _mark_waiting_replies(ticket)
    return {
        "ticket": ticket,
        "reply_form": reply_form or ReplyForm(),
        # The send guard: the reply form carries what this page shows (tickets.services.send_guard).
        "seen_comment": max((c.pk for c in ticket.comments.all()), default=0),
        "statuses": list(Status.objects.all()),
        "priorities": list(Priority.objects.all()),
        "agents": list(agents_queryset()),
        "canned": list(CannedResponse.objects.all()),
        "recent": selectors.requester_recent_tickets(ticket),
        # What the apps built on tickets show on this page (tickets.contributions).
        "comment_templates": contributions.comment_templates(),
        "sidebar_templates": contributions.sidebar_templates(),
        "reply_toolbar_templates": contributions.reply_toolbar_templates(),
        # Senders whose remote images show; everyone else's are blocked (tickets.remote_images).
        "image_senders": remote_images.allowed_senders(ticket),
    }


def _mark_waiting_replies(ticket) -> None:
    """Each reply whose mail has not gone out yet gets `sends_at` (the page offers Undo)."""
    comments = list(ticket.comments.all())
    times = reply_delivery.send_times(comments)
    for comment in comments:
        comment.sends_at = times.get(comment.pk)
        comment.sends_in = _minutes_until(comment.sends_at) if comment.sends_at else None


def _minutes_until(moment) -> int:
    return max(1, round((moment - timezone.now()).total_seconds() / 60))


def _sent_message(comment: Comment, *, send_now: bool) -> str:
    """What is true about a reply just sent: it waits out the debounce, or it is on its way."""
    sends_at = None if send_now else reply_delivery.send_times([comment]).get(comment.pk)
    if sends_at is None:
        return "Reply sent."
    return f"Sending in {_minutes_until(sends_at)} min. Undo on the reply until then."


@require_GET
@agent_required
def ticket_detail(request, number: int):
    ticket = _get_ticket(number)
    # A live page's sidebar after a pushed change (static/js/live.js): that part alone.
    if request.htmx and request.htmx.target == "ticket-sidebar":
        return render(request, "tickets/_sidebar.html", _detail_context(request, ticket))
    return render(request, "tickets/detail.html", _detail_context(request, ticket))


@require_POST
@agent_required
def ticket_reply(request, number: int):
    ticket = _get_ticket(number)
    form = ReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        context = _detail_context(request, ticket, form)
        # A page state that cannot be read is a broken or tampered page: 400 for htmx too.
        if request.htmx and not form.seen_errors:
            return render(request, "tickets/_main.html", context)
        template = "tickets/_main.html" if request.htmx else "tickets/detail.html"
        return render(request, template, context, status=400)
    if form.cleaned_data["edit_first"]:
        # "Edit first" after the send guard held it: the form again, text kept, nothing sent.
        return _main_response(request, number, form)
    uploads = [
        Upload(filename=f.name, content=f.read(), content_type=f.content_type or "")
        for f in form.cleaned_data["attachments"]
    ]
    internal = form.cleaned_data["internal"]
    # Markdown, rendered and sanitised once: the same HTML the preview showed (tickets.rich_text).
    body_html, uploads = rich_text.reply_html(form.cleaned_data["body"], uploads)
    try:
        comment = reply_create_guarded(
            ticket=ticket,
            seen=_seen(form),
            body_text=form.cleaned_data["body"],
            body_html=body_html,
            is_public=not internal,
            author_user=request.user,
            uploads=uploads,
            send_now=form.cleaned_data["send_now"],
            cc=form.cleaned_data["cc"],
            bcc=form.cleaned_data["bcc"],
        )
    except ReplyHeld as held:
        return _held_response(request, number, form, held)
    if form.cleaned_data["status"]:
        ticket_change_status(
            ticket=ticket, status=form.cleaned_data["status"], actor_user=request.user
        )
    sent = _sent_message(comment, send_now=form.cleaned_data["send_now"])
    messages.success(request, "Internal note added." if internal else sent)
    if request.htmx:
        context = _detail_context(request, _get_ticket(number))
        response = render(request, "tickets/_main.html", context)
        response["HX-Trigger"] = "ticket-changed"
        return response
    return redirect("tickets:detail", number=number)


def _seen(form: ReplyForm) -> Seen | None:
    data = form.cleaned_data
    if data["seen_comment"] is None:
        return None  # a post without the page's state (an older page): not checked
    return Seen(comment_id=data["seen_comment"], requester_id=data["seen_requester"])


def _held_response(request, number: int, form: ReplyForm, held: ReplyHeld):
    """The send guard held the reply (409, nothing created or sent): the page as it is now,
    the reply form with its text and what is new since the agent's page, Send anyway or Edit
    first (its seen values now the newest, so Send anyway sends unless yet more arrived)."""
    ticket = _get_ticket(number)
    context = _detail_context(request, ticket, form)
    context["held"] = {
        "newer": [c for c in ticket.comments.all() if c.pk in held.newer],
        "requester_changed": held.requester_changed,
        "files": len(form.cleaned_data["attachments"]),
    }
    template = "tickets/_main.html" if request.htmx else "tickets/detail.html"
    return render(request, template, context, status=409)


@require_http_methods(["GET", "POST"])
@agent_required
def held_reply(request, number: int, pk: int):
    """A reply by mail the send guard held (the link in the mail that told its author): the
    reply, what came after the entry it answered, and the button that sends it. Its author's
    alone: anyone else is refused (403)."""
    ticket = _get_ticket(number)
    comment = next((c for c in ticket.comments.all() if c.pk == pk), None)
    if comment is None:
        raise Http404("No such comment.")
    if comment.author_user_id != request.user.pk:
        raise PermissionDenied("Only the agent who wrote a held reply can send it.")
    if not comment.held_reason:
        messages.success(request, "This reply is no longer held: it was sent or changed already.")
        return redirect(reverse("tickets:detail", args=[number]) + f"#comment-{pk}")
    if request.method == "GET":
        return _held_page(request, ticket, comment)
    form = HeldReplyForm(request.POST)
    if not form.is_valid():
        return _held_page(request, ticket, comment, error=SEEN_MESSAGE, status=400)
    try:
        sent = held_reply_send(
            comment=comment, actor_user=request.user, seen_comment=form.cleaned_data["seen_comment"]
        )
    except ReplyHeld:
        again = "Not sent: another entry arrived since this page opened. Read it, then send."
        return _held_page(request, _get_ticket(number), comment, error=again, status=409)
    except CommentNotChangeable as exc:  # NotTheAuthor is refused above
        messages.error(request, str(exc))
        return redirect("tickets:detail", number=number)
    messages.success(request, _sent_message(sent, send_now=False))
    return redirect(reverse("tickets:detail", args=[number]) + f"#comment-{pk}")


def _held_page(request, ticket, comment, *, error: str = "", status: int = 200):
    _mark_waiting_replies(ticket)
    comments = list(ticket.comments.all())
    after, author = comment.held_after or 0, comment.author_user_id
    context = {
        "ticket": ticket,
        "comment": comment,
        "newer": [c for c in comments if collides(c, after=after, user_id=author)],
        "seen_comment": max((c.pk for c in comments), default=0),
        "error": error,
        "comment_templates": contributions.comment_templates(),
        "image_senders": remote_images.allowed_senders(ticket),
    }
    return render(request, "tickets/held_reply.html", context, status=status)


def _get_comment(number: int, pk: int) -> Comment:
    comment = Comment.objects.filter(pk=pk, ticket__number=number).first()
    if comment is None:
        raise Http404("No such comment.")
    return comment


def _main_response(request, number: int, reply_form=None):
    """The main column (and, out of band, the sidebar), or the whole page without htmx."""
    context = _detail_context(request, _get_ticket(number), reply_form)
    if not request.htmx:
        return render(request, "tickets/detail.html", context)
    response = render(request, "tickets/_main.html", context)
    response["HX-Trigger"] = "ticket-changed"
    return response


def ticket_main_response(request, number: int):
    """What a change made from the ticket page answers with (apps above tickets use it too: a
    macro applied): the main column and the sidebar for htmx, else the ticket page again."""
    if not request.htmx:
        return redirect("tickets:detail", number=number)
    return _main_response(request, number)


@require_POST
@agent_required
def comment_undo(request, number: int, pk: int):
    """Undo a reply before it goes out: nothing reaches the customer, the text is a draft again."""
    comment = _get_comment(number, pk)
    try:
        text = comment_withdraw(comment=comment, actor_user=request.user)
    except CommentNotChangeable as exc:
        messages.error(request, str(exc))
        return _main_response(request, number)
    messages.success(request, "Reply withdrawn: nothing was sent. It is back in the reply box.")
    return _main_response(request, number, ReplyForm(initial={"body": text}))


@require_POST
@agent_required
def comment_visibility(request, number: int, pk: int):
    """Make an internal note public (it reaches the customer) or a waiting reply internal."""
    comment = _get_comment(number, pk)
    public = request.POST.get("public") == "1"
    try:
        comment_set_public(comment=comment, public=public, actor_user=request.user)
    except CommentNotChangeable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, "Made public: it goes to the customer." if public else "Made internal."
        )
    return _main_response(request, number)


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
    back = redirect(safe_next(request, reverse("tickets:list")))
    form = BulkForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))  # type: ignore[arg-type]  # messages are str
        return back
    changes = form.changes(request.POST)
    if not changes:
        messages.error(request, "Choose a change to apply; nothing was changed.")
        return back
    result = tickets_bulk_update(
        tickets=_bulk_targets(request, form.cleaned_data), changes=changes, actor_user=request.user
    )
    messages.success(request, _bulk_summary(result))
    return back


def _bulk_targets(request, data) -> list[Ticket]:
    if data["all_matching"]:
        filters = filters_from_params(QueryDict(data["query"]))
        qs = selectors.ticket_queryset(filters, request.user).order_by("pk")
        return list(qs[:BULK_LIMIT])
    return list(Ticket.objects.filter(number__in=data["tickets"]).order_by("pk"))


def _bulk_summary(result) -> str:
    n, changed = result.selected, result.changed
    if n == 0:
        return "No tickets matched; nothing was changed."
    if changed == n:
        return f"Updated {n} ticket{'s' if n != 1 else ''}."
    if changed == 0:
        return f"Nothing changed: the selected ticket{'s' if n != 1 else ''} already matched."
    return f"Updated {changed} of {n} selected tickets; {n - changed} already matched."


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
    return attachment_response(attachment)


@require_GET
@agent_required
def canned_render(request, number: int, pk: int):
    ticket = _get_ticket(number)
    canned = CannedResponse.objects.filter(pk=pk).first()
    if canned is None:
        raise Http404("No such canned response.")
    text = placeholders.render_canned(canned.body, ticket, request.user)
    return JsonResponse({"name": canned.name, "body": text})


def home(request):
    if request.user.is_authenticated and request.membership:
        return redirect("tickets:list")
    return redirect("login")


def health(request):
    return HttpResponse("ok", content_type="text/plain")


def csrf_failure(request, reason=""):
    return render(request, "403_csrf.html", status=403)


# -- tags and followers on the ticket page (in place: the sidebar is swapped, timeline and all) --


def _sidebar_response(request, number: int):
    if request.htmx:
        return render(
            request, "tickets/_sidebar.html", _detail_context(request, _get_ticket(number))
        )
    return redirect("tickets:detail", number=number)


@require_POST
@agent_required
def ticket_tags(request, number: int):
    ticket = _get_ticket(number)
    form = TicketTagsForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))  # type: ignore[arg-type]  # messages are str
    elif form.cleaned_data["remove"]:
        removed = ticket_tags_remove(
            ticket=ticket, names=form.cleaned_data["remove"], actor_user=request.user
        )
        messages.success(request, f"Removed {', '.join(removed)}." if removed else "Not tagged.")
    else:
        added = ticket_tags_add(
            ticket=ticket, names=form.cleaned_data["add"], actor_user=request.user
        )
        messages.success(request, f"Tagged {', '.join(added)}." if added else "Already tagged.")
    return _sidebar_response(request, number)


@require_POST
@agent_required
def ticket_follow_toggle(request, number: int):
    ticket = _get_ticket(number)
    if request.POST.get("follow") == "1":
        ticket_follow(ticket=ticket, user=request.user)
        messages.success(request, "Following: you hear about it as the assignee does.")
    else:
        ticket_unfollow(ticket=ticket, user=request.user)
        messages.success(request, "No longer following.")
    return _sidebar_response(request, number)
