"""The reply box's Preview (the Markdown as the customer will get it) and Forward (one message,
or the ticket's public conversation, to any addresses). Views parse, call one service, render."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tenants.access import agent_required
from tickets import rich_text, selectors
from tickets.forms import ForwardForm
from tickets.models import Comment, Ticket
from tickets.services.forwarding import NothingToForward, ticket_forward
from tickets.views import _main_response as main_response

PREVIEW_LIMIT = 100_000  # the reply form's own limit on the body


def _get_ticket(number: int) -> Ticket:
    try:
        return selectors.ticket_detail(number)
    except Ticket.DoesNotExist:
        raise Http404("No such ticket.") from None


@require_POST
@agent_required
def reply_preview(request, number: int):
    """What the reply box's Markdown becomes: the HTML part of the mail, and its text part."""
    _get_ticket(number)  # another tenant's ticket is a 404, like every other action on it
    source = request.POST.get("body", "")
    too_long = len(source) > PREVIEW_LIMIT
    context = {
        "error": "The message is too long to preview." if too_long else "",
        "html": "" if too_long else rich_text.render_markdown(source),
        "text": "" if too_long else rich_text.text_part(source),
    }
    return render(request, "tickets/_reply_preview.html", context)


@require_POST
@agent_required
def ticket_forward_view(request, number: int):
    """Forward one message (`comment`) or the whole public conversation; the ticket page after."""
    ticket = _get_ticket(number)
    form = ForwardForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))  # type: ignore[arg-type]  # messages are str
        return _back(request, number)
    comment = None
    if form.cleaned_data["comment"]:
        comment = Comment.objects.filter(pk=form.cleaned_data["comment"], ticket=ticket).first()
        if comment is None:
            raise Http404("No such message.")
    try:
        ticket_forward(
            ticket=ticket,
            to=form.cleaned_data["to"],
            note=form.cleaned_data["note"],
            comment=comment,
            actor_user=request.user,
        )
    except NothingToForward as exc:
        messages.error(request, str(exc))
        return _back(request, number)
    what = "the message" if comment is not None else "the conversation"
    messages.success(request, f"Forwarded {what} to {', '.join(form.cleaned_data['to'])}.")
    return _back(request, number)


def _back(request, number: int):
    """The main column (and the sidebar, with its timeline) in place, or the page."""
    if not request.htmx:
        return redirect("tickets:detail", number=number)
    return main_response(request, number)
