"""Pages: the agent's notifications and preferences; the admin's mail settings (with DKIM keys),
templates and branding; the public logo mail clients fetch."""

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from outbound_mail import dkim_keys, placeholders, rendering, selectors
from outbound_mail.forms import (
    BrandingForm,
    ChannelsForm,
    DkimKeyForm,
    MailSettingsForm,
    SmtpConnectionForm,
    TemplateForm,
    TestEmailForm,
    logo_type,
)
from outbound_mail.kinds import AGENT_KINDS, CUSTOMER_KINDS, TEMPLATE_KINDS, Kind
from outbound_mail.models import DkimKey, Notification
from outbound_mail.services import dkim, templates
from outbound_mail.services.connections import mail_settings_save, smtp_connection_save
from outbound_mail.services.preferences import (
    notification_defaults_save,
    notification_mark_read,
    notifications_mark_all_read,
    preferences_save,
)
from outbound_mail.services.sending import outgoing_send_test
from tenants import confirm
from tenants.access import admin_required, agent_required
from tickets.models import Ticket

# -- the agent's notifications -------------------------------------------------------------------


@require_GET
@agent_required
def notification_list(request):
    items = selectors.notifications_for(request.user)
    return render(request, "outbound_mail/notifications.html", {"items": items})


@require_GET
@agent_required
def notification_bell(request):
    count = selectors.unread_count(request.user)
    return render(request, "outbound_mail/_bell_count.html", {"unread": count})


@require_GET
@agent_required
def notification_open(request, pk: int):
    """Mark read and go to the ticket (a link, so it opens in a new tab too)."""
    try:
        notification = notification_mark_read(
            user=request.user, notification_id=pk, now=timezone.now()
        )
    except Notification.DoesNotExist:
        raise Http404("No such notification.") from None
    ticket = notification.ticket  # None without a query when the notification has no ticket
    if ticket is None:
        return redirect("outbound_mail:notifications")
    return redirect("tickets:detail", number=ticket.number)


@require_POST
@agent_required
def notifications_read(request):
    count = notifications_mark_all_read(user=request.user, now=timezone.now())
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} read.")
    return redirect("outbound_mail:notifications")


@agent_required
def preferences(request):
    current = selectors.user_preferences(request.user)
    form = ChannelsForm(request.POST or None, initial_channels=current)
    if request.method == "POST" and form.is_valid():
        preferences_save(
            organization=request.organization, user=request.user, channels=form.channels()
        )
        messages.success(request, "Notification preferences saved.")
        return redirect("outbound_mail:preferences")
    return render(request, "outbound_mail/preferences.html", {"form": form})


# -- email sending (admins) ----------------------------------------------------------------------


@admin_required
def email_settings(request):
    connection = selectors.smtp_connection(enabled_only=False)
    smtp_form = SmtpConnectionForm(
        request.POST if "smtp" in request.POST else None, instance=connection, prefix="smtp"
    )
    settings_form = MailSettingsForm(
        request.POST if "behaviour" in request.POST else None,
        instance=selectors.mail_settings(),
        prefix="mail",
    )
    if request.method == "POST":
        saved = _save_email_settings(request, smtp_form, settings_form)
        if saved:
            return redirect("outbound_mail:email")
    context = {
        "smtp_form": smtp_form,
        "settings_form": settings_form,
        "test_form": TestEmailForm(initial={"to": request.user.email}),
        "connection": connection,
        "dkim_key": dkim.dkim_keys_current(organization=request.organization).active,
    }
    return render(request, "outbound_mail/email_settings.html", context, status=_status(request))


def _status(request) -> int:
    return 400 if request.method == "POST" else 200


def _save_email_settings(request, smtp_form, settings_form) -> bool:
    if "smtp" in request.POST and smtp_form.is_valid():
        smtp_connection_save(organization=request.organization, **smtp_form.cleaned_data)
        messages.success(request, "SMTP server saved.")
        return True
    if "behaviour" in request.POST and settings_form.is_valid():
        mail_settings_save(organization=request.organization, **settings_form.cleaned_data)
        messages.success(request, "Mail settings saved.")
        return True
    return False


@require_POST
@admin_required
def email_test(request):
    form = TestEmailForm(request.POST)
    connection = selectors.smtp_connection(enabled_only=False)
    context: dict[str, object] = {
        "smtp_form": SmtpConnectionForm(instance=connection, prefix="smtp"),
        "settings_form": MailSettingsForm(instance=selectors.mail_settings(), prefix="mail"),
        "test_form": form,
        "connection": connection,
        "dkim_key": dkim.dkim_keys_current(organization=request.organization).active,
    }
    if form.is_valid() and connection is None and not selectors.is_member(form.cleaned_data["to"]):
        # The platform's connection (its ESP, its reputation) is not for mailing outsiders.
        form.add_error("to", "Without your own SMTP server, tests go to members of this helpdesk.")
    if form.is_valid():
        context["outcome"] = outgoing_send_test(
            organization=request.organization,
            to_address=form.cleaned_data["to"],
            user=request.user,
            now=timezone.now(),
        )
    return render(request, "outbound_mail/email_settings.html", context)


# -- DKIM keys (admins) --------------------------------------------------------------------------


@admin_required
def dkim_settings(request):
    """The tenant's DKIM keys and their DNS records; a POST generates a new key."""
    organization = request.organization
    origin = dkim.mail_origin(organization=organization)
    form = _dkim_form(request, origin, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        key = dkim.dkim_key_generate(
            organization=organization, user=request.user, now=timezone.now(), **form.cleaned_data
        )
        messages.success(
            request, f"Key “{key.selector}” made. Publish its record, check DNS, then switch it on."
        )
        return redirect("outbound_mail:dkim")
    return _dkim_page(request, origin, form, status=_status(request))


def _dkim_form(request, origin: dkim.MailOrigin, data=None) -> DkimKeyForm:
    taken = dkim.taken_names(organization=request.organization)
    selector = dkim.default_selector(now=timezone.now(), domain=origin.domain, taken=taken)
    return DkimKeyForm(
        data,
        from_domain=origin.domain,
        taken=taken,
        initial={"domain": origin.domain, "selector": selector},
    )


def _dkim_page(request, origin, form, *, checks=None, status=200):
    keys = dkim.dkim_keys_current(organization=request.organization)
    checks = checks or {}

    def rows(key: DkimKey | None):
        if key is None:
            return []
        found = checks.get(key.pk, [])
        by_kind = {check.record.kind: check for check in found}
        return [(r, by_kind.get(r.kind)) for r in dkim.records_for(key, origin)]

    context = {
        "origin": origin,
        "keys": keys,
        "active_rows": rows(keys.active),
        "pending_rows": rows(keys.pending),
        "form": form,
        "aligned": keys.active is not None and dkim_keys.aligned(keys.active.domain, origin.domain),
    }
    return render(request, "outbound_mail/dkim.html", context, status=status)


def _current_key(request, pk) -> DkimKey:
    """The tenant's active or waiting key with this id; anything else (another tenant's key, a
    retired one, junk) is a 404."""
    keys = dkim.dkim_keys_current(organization=request.organization)
    for key in (keys.active, keys.pending):
        if key is not None and str(key.pk) == str(pk):
            return key
    raise Http404("No such key.")


@require_POST
@admin_required
def dkim_check(request):
    """Look the key's records up in DNS now and show, per record, what is published."""
    key = _current_key(request, request.POST.get("key"))
    origin = dkim.mail_origin(organization=request.organization)
    found = dkim.dkim_dns_check(records=dkim.records_for(key, origin))
    return _dkim_page(request, origin, _dkim_form(request, origin), checks={key.pk: found})


@require_POST
@admin_required
def dkim_activate(request):
    """Sign with the waiting key; replacing a key that signs asks first."""
    keys = dkim.dkim_keys_current(organization=request.organization)
    if keys.pending is None:
        raise Http404("No key is waiting.")
    if keys.active is not None:
        asking = confirm.unconfirmed(
            request,
            confirm.Confirmation(
                f"Replace the key “{keys.active.selector}” with “{keys.pending.selector}”?",
                reverse("outbound_mail:dkim"),
                detail=f"Mail is signed with “{keys.pending.selector}” from now on, which "
                "receivers can check only once its record is published (Check DNS). Keep the "
                f"record of “{keys.active.selector}” for a few days, for mail still on its way.",
                action="Replace the key",
            ),
        )
        if asking:
            return asking
    try:
        key = dkim.dkim_key_activate(organization=request.organization, now=timezone.now())
    except DkimKey.DoesNotExist:  # switched on (or replaced) by someone else meanwhile
        raise Http404("No key is waiting.") from None
    messages.success(request, f"Mail is signed with the key “{key.selector}” from now on.")
    return redirect("outbound_mail:dkim")


@require_POST
@admin_required
def dkim_disable(request):
    keys = dkim.dkim_keys_current(organization=request.organization)
    if keys.active is None:
        raise Http404("No key signs mail.")
    asking = confirm.unconfirmed(
        request,
        confirm.Confirmation(
            f"Stop signing mail with the key “{keys.active.selector}”?",
            reverse("outbound_mail:dkim"),
            detail="Mail goes out unsigned; with a DMARC policy that rejects, it then passes "
            "only by SPF. The key is discarded: signing again needs a new one.",
            action="Stop signing",
        ),
    )
    if asking:
        return asking
    dkim.dkim_key_disable(organization=request.organization, now=timezone.now())
    messages.success(request, "Mail is no longer signed.")
    return redirect("outbound_mail:dkim")


@admin_required
def notification_defaults(request):
    form = ChannelsForm(request.POST or None, initial_channels=selectors.organization_defaults())
    if request.method == "POST" and form.is_valid():
        notification_defaults_save(organization=request.organization, channels=form.channels())
        messages.success(request, "Defaults saved. Agents who chose for themselves keep that.")
        return redirect("outbound_mail:notification_defaults")
    return render(request, "outbound_mail/notification_defaults.html", {"form": form})


# -- templates (admins) --------------------------------------------------------------------------


@require_GET
@admin_required
def template_list(request):
    rows = [
        {
            "kind": kind,
            "label": Kind(kind).label,
            "row": selectors.template_row(kind),
            "enabled": selectors.template_enabled(kind),
            "customer": kind in CUSTOMER_KINDS,
        }
        for kind in TEMPLATE_KINDS
    ]
    return render(request, "outbound_mail/templates.html", {"rows": rows})


def _kind_or_404(kind: str) -> str:
    if kind not in TEMPLATE_KINDS:
        raise Http404("No such template.")
    return kind


def _template_initial(kind: str) -> dict:
    source = selectors.template_source(kind)
    return {
        "subject": source.subject,
        "body_text": source.body_text,
        "body_html": source.body_html,
        "enabled": selectors.template_enabled(kind),
    }


@admin_required
def template_edit(request, kind: str):
    kind = _kind_or_404(kind)
    form = TemplateForm(request.POST or None, kind=kind, initial=_template_initial(kind))
    if request.method == "POST" and form.is_valid():
        templates.template_save(
            organization=request.organization,
            kind=kind,
            user=request.user,
            now=timezone.now(),
            **form.cleaned_data,
        )
        messages.success(request, f"“{Kind(kind).label}” saved.")
        return redirect("outbound_mail:template_edit", kind=kind)
    context = {
        "form": form,
        "kind": kind,
        "label": Kind(kind).label,
        "placeholders": placeholders.BY_KIND[kind],
        "customized": selectors.template_row(kind) is not None,
        "preview_ticket": _preview_ticket(request.GET.get("ticket")),
        "recent_tickets": _recent_tickets(request.GET.get("ticket")),
        "agent_kind": kind in AGENT_KINDS,
    }
    return render(request, "outbound_mail/template_edit.html", context, status=_status(request))


def _preview_ticket(number) -> Ticket | None:
    tickets = Ticket.objects.select_related(
        "status", "priority", "assignee", "team", "requester", "organization"
    )
    if number and str(number).isdigit():
        return tickets.filter(number=int(number)).first()
    return tickets.order_by("-created_at", "-id").first()


def _recent_tickets(number) -> list[Ticket]:
    recent = list(Ticket.objects.order_by("-created_at", "-id")[:20])
    chosen = _preview_ticket(number)
    if chosen is not None and chosen.pk not in {t.pk for t in recent}:
        recent.insert(0, chosen)
    return recent


@require_POST
@admin_required
def template_preview(request, kind: str):
    """The unsaved template rendered for a real ticket, branded, in a sandboxed frame."""
    kind = _kind_or_404(kind)
    form = TemplateForm(request.POST, kind=kind)
    ticket = _preview_ticket(request.POST.get("ticket"))
    context: dict[str, object] = {"form": form, "ticket": ticket}
    if form.is_valid() and ticket is not None:
        values = placeholders.preview_values(kind, ticket, request.user)
        data = form.cleaned_data
        source = rendering.Source(data["subject"], data["body_text"], data["body_html"])
        try:
            rendered = rendering.render(source, values)
        except rendering.TemplateError as exc:
            # It passed the check with sample values; this ticket's values take it past a
            # limit (size, time): the same refusal the save and the send would meet.
            context["render_error"] = str(exc)
        else:
            branded = rendering.brand(rendered, templates.branding_of(request.organization))
            context["subject"] = rendering.tagged_subject(rendered.subject, ticket.number)
            context["mail"] = branded
    return render(request, "outbound_mail/_preview.html", context)


@require_POST
@admin_required
def template_reset(request, kind: str):
    kind = _kind_or_404(kind)
    templates.template_reset(kind=kind)
    messages.success(request, f"“{Kind(kind).label}” is back to the default.")
    return redirect("outbound_mail:template_edit", kind=kind)


# -- branding (admins) ---------------------------------------------------------------------------


@admin_required
def branding(request):
    organization = request.organization
    initial = {
        "accent_color": organization.accent_color,
        "sender_name": organization.sender_name,
        "footer_text": organization.footer_text,
    }
    form = BrandingForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        templates.branding_save(organization=organization, **form.cleaned_data)
        messages.success(request, "Branding saved.")
        return redirect("outbound_mail:branding")
    context = {"form": form, "logo_url": templates.branding_of(organization).logo_url}
    return render(request, "outbound_mail/branding.html", context, status=_status(request))


@require_GET
def logo(request):
    """The tenant's logo for mail clients: public, like the mail it appears in."""
    organization = request.organization
    if organization is None or not organization.logo:
        raise Http404("No logo.")
    handle = organization.logo.open("rb")
    content_type = logo_type(handle.read(8))
    handle.seek(0)
    if content_type is None:
        handle.close()
        raise Http404("No logo.")
    response = FileResponse(handle, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "public, max-age=86400"
    return response
