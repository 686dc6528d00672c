"""The public contact form, for people without an account: `/contact/` in the portal's frame
and `/contact/embed/` without it, for an iframe on the tenant's own site (the only pages that
may be framed, by any site). A 404 while the admin has the form turned off.

A submission opens a ticket (source `contact_form`) for the contact the address names, made if
new; the address is not proven, so the sender is never signed in and the thank-you page shows
nothing of the ticket. Robots are kept off by portal.antispam: a honeypot hit is thanked and
dropped, a token shown too recently or too long ago asks to send again with everything typed
kept, and past the limit of submissions from one address the answer is a 429."""

import logging

from csp.decorators import csp_replace
from django.db import transaction
from django.http import Http404, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from portal import antispam
from portal.contact_forms import ContactForm
from portal.intake import intake_answer
from portal.models import IntakeForm, PortalSettings
from portal.selectors import request_portal_settings
from portal.services.intake import portal_ticket_create
from tenants import throttle
from tickets.models import Ticket
from tickets.services.attachments import Upload
from tickets.services.contacts import contact_get_or_create

log = logging.getLogger(__name__)

# Framing: the embed is meant for the tenant's own site, whose address we do not know.
FRAMEABLE = {"frame-ancestors": ["*"]}


def _enabled(request) -> PortalSettings:
    found = request_portal_settings(request)
    if not found.contact_form_enabled:
        raise Http404("The contact form is not enabled.")
    return found


def _intake_form(found: PortalSettings) -> IntakeForm | None:
    chosen = found.contact_form_intake
    return chosen if chosen is not None and chosen.enabled else None


@require_http_methods(["GET", "POST"])
def contact(request):
    return _page(request, embed=False)


# A third-party frame gets no CSRF cookie (SameSite=Lax), so the embed is CSRF-exempt and
# refuses instead any POST that did not come from a page of this host (antispam.from_this_host).
@csrf_exempt
@xframe_options_exempt
@csp_replace(FRAMEABLE)
@require_http_methods(["GET", "POST"])
def contact_embed(request):
    return _page(request, embed=True)


@require_GET
def contact_thanks(request):
    _enabled(request)
    return render(request, "portal/contact_thanks.html")


@xframe_options_exempt
@csp_replace(FRAMEABLE)
@require_GET
def contact_embed_thanks(request):
    _enabled(request)
    return render(request, "portal/contact_embed_thanks.html", {"embed": True})


def _page(request, *, embed: bool):
    intake = _intake_form(_enabled(request))
    if request.method == "POST":
        if embed and not antispam.from_this_host(request):
            return HttpResponseForbidden("Please send the form from its page.")
        return _submit(request, intake, embed=embed)
    shown = {antispam.TOKEN_FIELD: antispam.token_issue(request.organization)}
    return _render(request, ContactForm(initial=shown, intake_form=intake), embed=embed)


def _render(request, form: ContactForm, *, embed: bool, problem: str = "", status: int = 200):
    template = "portal/contact_embed.html" if embed else "portal/contact.html"
    context = {
        "form": form,
        "problem": problem,
        "embed": embed,
        "honeypot": antispam.HONEYPOT_FIELD,
    }
    return render(request, template, context, status=status)


def _thanks(embed: bool):
    return redirect("portal:contact_embed_thanks" if embed else "portal:contact_thanks")


def _submit(request, intake: IntakeForm | None, *, embed: bool):
    organization = request.organization
    try:
        antispam.rate_check(organization, request)
    except throttle.Throttled as exc:
        form = ContactForm(request.POST, intake_form=intake)
        return _render(request, form, embed=embed, problem=str(exc), status=429)
    if antispam.honeypot_filled(request.POST):
        antispam.rate_count(organization, request)
        log.info("contact form: honeypot filled from %s", throttle.client_address(request))
        return _thanks(embed)
    problem = antispam.token_problem(organization, request.POST.get(antispam.TOKEN_FIELD, ""))
    if problem is not None:
        # Everything typed comes back, with a new token (files must be chosen again).
        data = request.POST.copy()
        data[antispam.TOKEN_FIELD] = antispam.token_issue(organization)
        form = ContactForm(data, intake_form=intake)
        return _render(request, form, embed=embed, problem=problem.message, status=400)
    form = ContactForm(request.POST, request.FILES, intake_form=intake)
    if not form.is_valid():
        return _render(request, form, embed=embed, status=400)
    antispam.rate_count(organization, request)
    _open_ticket(organization, form, intake)
    return _thanks(embed)


def _open_ticket(organization, form: ContactForm, intake: IntakeForm | None) -> Ticket:
    data = form.cleaned_data
    uploads = [
        Upload(filename=f.name, content=f.read(), content_type=f.content_type or "")
        for f in data["attachments"]
    ]
    with transaction.atomic():
        requester = contact_get_or_create(
            organization=organization, email=data["email"], name=data["name"]
        )
        return portal_ticket_create(
            organization=organization,
            requester=requester,
            subject=data["subject"],
            body_text=data["message"],
            source=Ticket.Source.CONTACT_FORM,
            intake_form=intake,
            answer=intake_answer(form) if intake is not None else None,
            uploads=uploads,
        )
