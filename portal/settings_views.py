"""Settings -> Portal (tenant admins only): the portal's and the contact form's switches, the
contact form's intake form, the welcome text and the status labels customers see; which
customers' contacts see all of their company's tickets (searchable, paged: a fixed number of
queries however many customers); and, to copy, the branding the portal wears and its
addresses with the embed snippet. Bad input gets its messages, never a 500; another tenant's
customer is a 404."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from outbound_mail.services.templates import branding_of
from portal.models import CompanyAccess
from portal.selectors import portal_settings
from portal.services.portal_settings import company_access_set, portal_settings_update
from portal.settings_forms import CompanyAccessForm, CustomerSearchForm, PortalSettingsForm
from tenants.access import admin_required
from tenants.hosts import organization_url
from tickets.models import Customer

CUSTOMERS_PER_PAGE = 25


@require_http_methods(["GET", "POST"])
@admin_required
def index(request):
    found = portal_settings(request.organization)
    form = PortalSettingsForm(request.POST or None, instance=found)
    if request.method == "POST":
        if form.is_valid():
            portal_settings_update(settings=found, **form.cleaned_data)
            messages.success(request, "Portal settings saved.")
            return redirect("portal_settings:index")
        messages.error(request, "Nothing was saved: check the fields marked below.")
    context = {
        "form": form,
        **_customers(request),
        "branding": branding_of(request.organization),
        "urls": _urls(request.organization),
    }
    return render(request, "portal/settings/portal.html", context, status=_status(request, form))


def _status(request, form) -> int:
    return 400 if request.method == "POST" and form.errors else 200


def _customers(request) -> dict:
    search = CustomerSearchForm(request.GET)
    q, page = ("", 1)
    if search.is_valid():
        q, page = search.cleaned_data["q"].strip(), search.cleaned_data["page"] or 1
    rows = Customer.objects.annotate(
        company_wide=Exists(CompanyAccess.objects.filter(customer=OuterRef("pk"))),
        contact_count=Count("contact", distinct=True),
    ).order_by("name", "id")
    if q:
        rows = rows.filter(Q(name__icontains=q) | Q(domains__domain__icontains=q)).distinct()
    paginator = Paginator(rows, CUSTOMERS_PER_PAGE)
    customers = paginator.get_page(page)
    return {"search": search, "q": q, "customers": customers}


def _urls(organization) -> dict:
    home = organization_url(organization, reverse("home"))
    contact = organization_url(organization, reverse("portal:contact"))
    embed = organization_url(organization, reverse("portal:contact_embed"))
    snippet = (
        f'<iframe src="{embed}" title="Contact {organization.sender_name or organization.name}" '
        'width="100%" height="900" style="border:0"></iframe>'
    )
    return {"home": home, "contact": contact, "embed": embed, "snippet": snippet}


@require_POST
@admin_required
def company_access(request, pk: int):
    customer = Customer.objects.filter(pk=pk).first()
    if customer is None:
        raise Http404("No such customer.")
    form = CompanyAccessForm(request.POST)
    if not form.is_valid():
        problems = form.errors.get("allowed") or ["Choose allowed or not."]
        messages.error(request, " ".join(str(problem) for problem in problems))
        return redirect(_back(request))
    allowed = form.cleaned_data["allowed"]
    company_access_set(organization=request.organization, customer=customer, allowed=allowed)
    if allowed:
        text = f"Contacts of {customer.name} now see all of its tickets in the portal."
    else:
        text = f"Contacts of {customer.name} now see only their own tickets in the portal."
    messages.success(request, text)
    return redirect(_back(request))


def _back(request) -> str:
    """The customers list where the admin was (its search and page, checked again)."""
    search = CustomerSearchForm(request.POST)
    query = {}
    if search.is_valid():
        if search.cleaned_data["q"]:
            query["q"] = search.cleaned_data["q"]
        if search.cleaned_data["page"]:
            query["page"] = search.cleaned_data["page"]
    url = reverse("portal_settings:index")
    return f"{url}?{urlencode(query)}#company" if query else f"{url}#company"
