"""The portal's sign-in pages, the contact's profile, and an agent's preview as a contact.

Asking for a link answers the same whether the address is a contact's or not (no list of
customers to be had by guessing); the link itself signs in only by POST (mail scanners fetch
every link in a message), once, within its time, on its own tenant's host."""

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from portal import auth
from portal.auth_forms import LinkRequestForm, PasswordForm, PasswordSignInForm, ProfileForm
from portal.selectors import require_portal_enabled
from portal.services import auth as services
from tenants import throttle
from tenants.redirects import safe_next
from tickets.models import Contact

SENT_TO_KEY = "portal_link_sent_to"


def _after_sign_in(request, next_url: str) -> HttpResponseRedirect:
    """To where the contact was going (only a path on this host), else their tickets."""
    host_ok = url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(next_url if next_url and host_ok else reverse("portal:tickets"))


def sign_in(request):
    """Ask for a sign-in link by mail."""
    require_portal_enabled(request)
    next_url = safe_next(request, "")
    form = LinkRequestForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        status = 400 if request.method == "POST" else 200
        return _sign_in_page(request, form, next_url, status=status)
    email = form.cleaned_data["email"].lower()
    try:
        services.magic_link_request(
            organization=request.organization,
            email=email,
            next_url=next_url,
            link_url=lambda token: request.build_absolute_uri(
                reverse("portal:sign_in_link", args=[token])
            ),
            client_address=throttle.client_address(request),
            now=timezone.now(),
        )
    except throttle.Throttled as exc:
        form.add_error("email", str(exc))
        return _sign_in_page(request, form, next_url, status=429)
    request.session[SENT_TO_KEY] = email
    return redirect("portal:sign_in_sent")


def _sign_in_page(request, form, next_url: str, *, status: int = 200):
    context = {"form": form, "next": next_url, "link_minutes": services.LINK_MINUTES}
    return render(request, "portal/sign_in.html", context, status=status)


def sign_in_sent(request):
    """The one answer to every link request that was not throttled."""
    require_portal_enabled(request)
    sent_to = request.session.get(SENT_TO_KEY, "")
    context = {"sent_to": sent_to, "link_minutes": services.LINK_MINUTES}
    return render(request, "portal/sign_in_sent.html", context)


def sign_in_link(request, token: str):
    """GET: a page with a "Sign in" button (nothing used up yet); POST: sign in with it."""
    require_portal_enabled(request)
    now = timezone.now()
    try:
        if request.method != "POST":
            services.magic_link_check(token=token, now=now)
            return render(request, "portal/link_confirm.html")
        consumed = services.magic_link_consume(
            organization=request.organization, token=token, now=now
        )
    except services.LinkInvalid as exc:
        status = 400 if exc.reason == services.LinkInvalid.UNKNOWN else 410
        context = {"reason": exc.reason, "link_minutes": services.LINK_MINUTES}
        return render(request, "portal/link_invalid.html", context, status=status)
    auth.sign_in(request, consumed.account)
    return _after_sign_in(request, consumed.next_url)


def sign_in_password(request):
    """Sign in with the password a contact set on their profile."""
    require_portal_enabled(request)
    next_url = safe_next(request, "")
    form = PasswordSignInForm(request.POST or None)
    context = {"form": form, "next": next_url}
    if request.method != "POST":
        return render(request, "portal/sign_in_password.html", context)
    if not form.is_valid():
        return render(request, "portal/sign_in_password.html", context, status=400)
    try:
        account = services.portal_password_sign_in(
            organization=request.organization,
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            client_address=throttle.client_address(request),
        )
    except throttle.Throttled as exc:
        form.add_error(None, str(exc))
        return render(request, "portal/sign_in_password.html", context, status=429)
    except services.SignInFailed:
        form.add_error(
            None,
            "That address and password do not match. Check both, or sign in with a link by mail.",
        )
        return render(request, "portal/sign_in_password.html", context, status=400)
    auth.sign_in(request, account)
    return _after_sign_in(request, next_url)


@require_POST
def sign_out(request):
    auth.sign_out(request)
    messages.success(request, "You are signed out.")
    return redirect("home")


# -- the profile -------------------------------------------------------------------------------


@auth.contact_required
def profile(request):
    """The contact's name, mail choice and password; an agent's preview sees none of it."""
    if request.visitor.preview:
        raise Http404("An agent's preview does not show the contact's profile.")
    contact = request.visitor.contact
    account = services.portal_account_for(organization=request.organization, contact=contact)
    which = request.POST.get("form") if request.method == "POST" else None
    profile_form = ProfileForm(
        request.POST if which == "profile" else None,
        initial={
            "name": contact.name,
            "mail": ProfileForm.MAIL_ALL if contact.mail_replies else ProfileForm.MAIL_NONE,
        },
    )
    password_form = PasswordForm(request.POST if which == "password" else None, account=account)
    if which == "profile" and profile_form.is_valid():
        profile = services.Profile(
            name=profile_form.cleaned_data["name"], mail_replies=profile_form.mail_replies
        )
        services.portal_profile_update(contact=contact, profile=profile)
        messages.success(request, "Your profile is saved.")
        return redirect("portal:profile")
    if (
        which == "password"
        and password_form.is_valid()
        and _password_changed(request, account, password_form)
    ):
        messages.success(request, "Your password is set. Other browsers are signed out.")
        return redirect("portal:profile")
    context = {
        "contact": contact,
        "account": account,
        "profile_form": profile_form,
        "password_form": password_form,
    }
    return render(request, "portal/profile.html", context, status=400 if which else 200)


def _password_changed(request, account, form: PasswordForm) -> bool:
    """Store the new password after checking the current one; this browser stays signed in
    (signed in again with the new epoch), every other one is signed out."""
    if "current_password" in form.fields:
        try:
            ok = services.portal_password_check(
                organization=request.organization,
                account=account,
                password=form.cleaned_data["current_password"],
                client_address=throttle.client_address(request),
            )
        except throttle.Throttled as exc:
            form.add_error("current_password", str(exc))
            return False
        if not ok:
            form.add_error("current_password", "That is not your current password.")
            return False
    account = services.portal_password_set(
        account=account, password=form.cleaned_data["new_password1"]
    )
    auth.sign_in(request, account)
    return True


# -- an agent's preview ------------------------------------------------------------------------


def _agent_only(request) -> None:
    if not auth.is_agent(request):
        raise Http404("Only the tenant's agents can preview the portal.")


@require_POST
def preview_start(request, contact_id: int):
    """An agent sees the portal as this contact would (read-only, with a banner)."""
    _agent_only(request)
    require_portal_enabled(request)
    contact = get_object_or_404(Contact, pk=contact_id)
    auth.start_preview(request, contact)
    return redirect("portal:tickets")


@require_POST
def preview_stop(request):
    """Back to the agent's page of the contact they were viewing as."""
    _agent_only(request)
    stored = request.session.get(auth.PREVIEW_KEY)
    auth.stop_preview(request)
    contact_id = stored.get("contact") if isinstance(stored, dict) else None
    if isinstance(contact_id, int) and Contact.objects.filter(pk=contact_id).exists():
        return redirect("tickets:contact", contact_id)
    return redirect("tickets:contacts")
