"""The signed-in contact's tickets: the list, a ticket's public conversation, its attachments,
and the reply, close and reopen a contact may post. Views parse, call one service, render.

Every ticket comes through portal.access (the contact's own, or their company's with
CompanyAccess; anything else is a 404). An agent previewing the portal as a contact reads the
same pages with nothing to post: their POSTs change nothing and come back with a message."""

import re
from dataclasses import dataclass
from functools import cache, wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from portal import access, auth, ticket_selectors
from portal.selectors import request_portal_settings
from portal.services.tickets import (
    NotApplicable,
    portal_reply_create,
    portal_ticket_close,
    portal_ticket_reopen,
)
from portal.ticket_forms import MAX_REPLY_FILES, PortalReplyForm, TicketListForm
from tickets.downloads import attachment_response
from tickets.models import Attachment, Comment, Contact, Ticket
from tickets.remote_images import block_remote_images
from tickets.services.attachments import Upload


def _private(view):
    """Pages with a contact's tickets are never kept by a shared cache or the browser's."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response

    return wrapped


def _acting(view):
    """Only the contact themself changes anything: an agent's preview is read-only. A GET
    (the sign-in page sending someone back to the URL their expired session posted to)
    shows the ticket."""

    @wraps(view)
    def wrapped(request, number: int, *args, **kwargs):
        if request.method != "POST":
            return redirect("portal:ticket", number=number)
        if not request.visitor.can_act:
            messages.error(
                request,
                f"You are viewing the portal as {request.visitor.contact.display_name}: "
                "nothing can be changed from the preview.",
            )
            return redirect("portal:ticket", number=number)
        return view(request, number, *args, **kwargs)

    return wrapped


# -- the list ----------------------------------------------------------------------------------


def _list_filters(params) -> ticket_selectors.ListFilters:
    form = TicketListForm(params)
    form.is_valid()  # a bad value is dropped: an old bookmark still shows a list
    data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    return ticket_selectors.ListFilters(**data)


@require_GET
@auth.contact_required
@_private
def ticket_list(request):
    filters = _list_filters(request.GET)
    contact = request.visitor.contact
    page = ticket_selectors.ticket_list_page(contact, filters, request_portal_settings(request))
    keep = {k: v for k, v in (("state", filters.state), ("q", filters.q)) if v and v != "all"}
    context = {
        "listing": page,
        "filters": filters,
        "contact": contact,
        "states": [("all", "All"), ("open", "Open"), ("closed", "Closed")],
        "search_query": urlencode({"q": filters.q}) if filters.q else "",
        "older_query": urlencode({**keep, "after": page.next_cursor}),
        "filtered": bool(filters.q or filters.after or filters.state != "all"),
    }
    return render(request, "portal/tickets.html", context)


# -- one ticket --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One public message as the contact reads it."""

    comment: Comment
    author: str
    by_agent: bool
    body_html: SafeString
    attachments: list[Attachment]


@cache
def _agent_attachment_src() -> re.Pattern:
    # Stored bodies link inline images to the agents' download (tickets.services.attachments):
    # the portal shows them through its own, which checks the contact's access.
    sample = reverse("tickets:attachment", args=[111, 222])
    pattern = re.escape(sample).replace("111", r"\d+").replace("222", r"(\d+)")
    return re.compile(f'src="{pattern}"')


def portal_body_html(comment: Comment, number: int) -> SafeString:
    """The comment's HTML for the portal: what the sanitiser stored (nh3, tickets.sanitize),
    remote images blocked as on the agent's page, inline images through the portal."""
    body = block_remote_images(comment.body_html).html

    def to_portal(match: re.Match) -> str:
        return f'src="{reverse("portal:attachment", args=[number, int(match.group(1))])}"'

    return mark_safe(_agent_attachment_src().sub(to_portal, body))  # noqa: S308 (sanitised by nh3 when stored)


def _author(comment: Comment, contact: Contact, organization) -> str:
    if comment.author_user_id:
        return comment.author_user.display_name  # type: ignore[union-attr]  # the id is set
    if comment.author_contact_id == contact.pk:
        return "You"
    if comment.author_contact_id:
        return comment.author_contact.display_name  # type: ignore[union-attr]  # the id is set
    return organization.sender_name or organization.name


def _entries(request, ticket: Ticket) -> list[Entry]:
    contact = request.visitor.contact
    return [
        Entry(
            comment=c,
            author=_author(c, contact, request.organization),
            by_agent=c.author_user_id is not None,
            body_html=portal_body_html(c, ticket.number),
            attachments=list(c.attachments.all()),
        )
        for c in ticket_selectors.public_conversation(ticket)
    ]


def _detail_context(request, ticket: Ticket, form: PortalReplyForm | None = None) -> dict:
    labels = request_portal_settings(request)
    return {
        "ticket": ticket,
        "contact": request.visitor.contact,
        "status_label": labels.label_for(ticket.status_category),
        "entries": _entries(request, ticket),
        "reply_form": form or PortalReplyForm(),
        "can_act": request.visitor.can_act,
        "max_files": MAX_REPLY_FILES,
        "max_upload_mb": settings.MAX_UPLOAD_SIZE // (1024 * 1024),
        # Browsers never keep a chosen file after a page answers: say so next to the field.
        "files_dropped": bool(form is not None and form.errors and request.FILES),
    }


@require_GET
@auth.contact_required
@_private
def ticket_detail(request, number: int):
    contact = request.visitor.contact
    try:
        ticket = access.ticket_for(contact, number)
    except Http404:
        survivor = access.merged_survivor(contact, number)
        if survivor is None:
            raise
        messages.info(request, f"Ticket #{number} was merged into this one, #{survivor.number}.")
        return redirect("portal:ticket", number=survivor.number)
    return render(request, "portal/ticket.html", _detail_context(request, ticket))


@require_GET
@auth.contact_required
def attachment_download(request, number: int, pk: int):
    """A file of a public message of a ticket the contact sees; anything else is a 404."""
    ticket = access.ticket_for(request.visitor.contact, number)
    attachment = ticket_selectors.public_attachment(ticket, pk)
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment_response(attachment)


# -- what the contact posts --------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@auth.contact_required
@_acting
def ticket_reply(request, number: int):
    contact = request.visitor.contact
    ticket = access.ticket_for(contact, number)
    form = PortalReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        context = _detail_context(request, ticket, form)
        return render(request, "portal/ticket.html", context, status=400)
    uploads = [
        Upload(filename=f.name, content=f.read(), content_type=f.content_type or "")
        for f in form.cleaned_data["attachments"]
    ]
    comment = portal_reply_create(
        ticket=ticket, contact=contact, body_text=form.cleaned_data["body"], uploads=uploads
    )
    reopened = " The ticket is open again." if ticket.is_done else ""
    messages.success(request, f"Reply sent.{reopened}")
    return redirect(f"{reverse('portal:ticket', args=[number])}#comment-{comment.pk}")


@require_http_methods(["GET", "POST"])
@auth.contact_required
@_acting
def ticket_close(request, number: int):
    ticket = access.ticket_for(request.visitor.contact, number)
    try:
        portal_ticket_close(ticket=ticket, contact=request.visitor.contact)
    except NotApplicable:
        messages.info(request, "This ticket is already closed.")
    else:
        messages.success(request, "Ticket closed. Reply any time to open it again.")
    return redirect("portal:ticket", number=number)


@require_http_methods(["GET", "POST"])
@auth.contact_required
@_acting
def ticket_reopen(request, number: int):
    ticket = access.ticket_for(request.visitor.contact, number)
    try:
        portal_ticket_reopen(ticket=ticket, contact=request.visitor.contact)
    except NotApplicable:
        messages.info(request, "This ticket is already open.")
    else:
        messages.success(request, "Ticket reopened. Tell us what is still needed below.")
    return redirect("portal:ticket", number=number)
