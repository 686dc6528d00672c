"""Settings pages for inbound mail (tenant admins) and the agent's "Mark as spam"."""

from django.contrib import messages
from django.db import IntegrityError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from inbound_mail import domains as address_domains
from inbound_mail import raw_mail, selectors
from inbound_mail.forms import (
    AddressConfirmationForm,
    ConfirmationCodeForm,
    CustomerDomainForm,
    InboundAddressForm,
    MailboxForm,
    MailDomainForm,
    SpamRuleForm,
    TrustedHostsForm,
)
from inbound_mail.models import (
    AddressConfirmation,
    InboundAddress,
    InboundMessage,
    Mailbox,
    MailDomain,
    SpamRule,
)
from inbound_mail.services import addresses as address_services
from inbound_mail.services import mail_domains as domain_services
from inbound_mail.services import mailboxes as mailbox_services
from inbound_mail.services import quarantine as quarantine_services
from inbound_mail.services import sender_trust
from inbound_mail.services import spam as spam_services
from inbound_mail.services.addresses import AddressRefused
from inbound_mail.services.mail_domains import DomainRefused
from tenants import confirm
from tenants.access import admin_required, agent_required
from tickets.models import CustomerDomain, Ticket
from tickets.services.contacts import customer_domain_add, customer_domain_remove


def raw_download(sha256: str, name: str) -> HttpResponse:
    """The message as received, as a file to open in a mail client (never rendered inline)."""
    try:
        raw = raw_mail.read(sha256)
    except raw_mail.RawMailMissing:
        raise Http404("The raw message is missing from storage.") from None
    response = HttpResponse(raw, content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="{name}.eml"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


# -- quarantine ------------------------------------------------------------------------------


@require_GET
@admin_required
def quarantine(request):
    show = "ignored" if request.GET.get("show") == "ignored" else "quarantine"
    rows = selectors.quarantine_list(show=show)
    return render(request, "inbound_mail/quarantine.html", {"rows": rows, "show": show})


def _message(pk: int) -> InboundMessage:
    message = selectors.inbound_message(pk)
    if message is None:
        raise Http404("No such message.")
    return message


@require_GET
@admin_required
def message_raw(request, pk: int):
    message = _message(pk)
    return raw_download(message.sha256, f"message-{message.pk}")


@require_POST
@admin_required
def message_reprocess(request, pk: int):
    quarantine_services.inbound_reprocess(message=_message(pk))
    messages.success(request, "Queued for another try.")
    return redirect("inbound_mail:quarantine")


@require_POST
@admin_required
def message_delete(request, pk: int):
    quarantine_services.inbound_delete(message=_message(pk))
    messages.success(request, "Message deleted.")
    return redirect("inbound_mail:quarantine")


# -- inbound addresses -----------------------------------------------------------------------


ADDRESS_FORMS = {
    "add": InboundAddressForm,
    "confirm": AddressConfirmationForm,
    "code": ConfirmationCodeForm,
    "domain": MailDomainForm,
}


@admin_required
def addresses(request):
    """The tenant's addresses, the ones waiting for their confirmation mail, its mail domains;
    a POST names its form in `action`."""
    action = request.POST.get("action", "add") if request.method == "POST" else ""
    if action not in ADDRESS_FORMS:
        action = "add"
    bound = {
        # Two forms have an address field: ids per form keep the page's labels unambiguous.
        name: cls(request.POST if name == action else None, auto_id=f"id_{name}_%s")
        for name, cls in ADDRESS_FORMS.items()
    }
    form = bound.get(action)
    if form is not None and form.is_valid():
        try:
            done = _address_action(request, action, form.cleaned_data)
        except (AddressRefused, DomainRefused) as refused:
            form.add_error(_field(action), refused.message)
        else:
            messages.success(request, done)
            return redirect("inbound_mail:addresses")
    context = {
        **{f"{name}_form": f for name, f in bound.items()},
        **selectors.address_settings(organization=request.organization),
    }
    return render(request, "inbound_mail/addresses.html", context, status=_status(request, form))


def _field(action: str) -> str:
    return {"domain": "domain", "code": "code"}.get(action, "address")


def _address_action(request, action: str, data: dict) -> str:
    organization = request.organization
    if action == "confirm":
        address_services.address_confirmation_request(
            organization=organization,
            address=data["address"],
            plus_addressing=data["plus_addressing"],
            requested_by=request.user,
        )
        return f"A confirmation mail is on its way to {data['address']}."
    if action == "code":
        address = address_services.address_confirm_code(
            organization=organization, code=data["code"]
        )
        return f"{address.address} is confirmed and added."
    if action == "domain":
        domain_services.mail_domain_add(organization=organization, domain=data["domain"])
        return "Domain added: publish the TXT record below, then check it."
    address_services.inbound_address_add(
        organization=organization,
        address=data["address"],
        plus_addressing=data["plus_addressing"],
    )
    return "Address added."


@require_POST
@admin_required
def mail_domain_verify(request, pk: int):
    mail_domain = get_object_or_404(MailDomain, pk=pk)
    try:
        verified = domain_services.mail_domain_verify(mail_domain=mail_domain)
    except DomainRefused as refused:
        messages.error(request, refused.message)
    else:
        if verified:
            messages.success(request, f"{mail_domain.domain} is verified.")
        else:
            names = " or ".join(address_domains.txt_names(mail_domain.domain))
            messages.error(
                request,
                f"No TXT record {address_domains.txt_value(mail_domain)} at {names} yet "
                "(DNS changes can take a while to show).",
            )
    return redirect("inbound_mail:addresses")


@require_POST
@admin_required
def mail_domain_delete(request, pk: int):
    try:
        domain_services.mail_domain_remove(mail_domain=get_object_or_404(MailDomain, pk=pk))
    except DomainRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, "Domain removed.")
    return redirect("inbound_mail:addresses")


@require_POST
@admin_required
def address_confirmation_cancel(request, pk: int):
    confirmation = get_object_or_404(AddressConfirmation, pk=pk)
    address_services.address_confirmation_cancel(confirmation=confirmation)
    messages.success(request, "Confirmation cancelled.")
    return redirect("inbound_mail:addresses")


def _status(request, form) -> int:
    return 400 if request.method == "POST" and form.errors else 200


@require_POST
@admin_required
def address_default(request, pk: int):
    address_services.inbound_address_make_default(address=get_object_or_404(InboundAddress, pk=pk))
    messages.success(request, "Default address changed.")
    return redirect("inbound_mail:addresses")


@require_POST
@admin_required
def address_delete(request, pk: int):
    address_services.inbound_address_remove(address=get_object_or_404(InboundAddress, pk=pk))
    messages.success(request, "Address removed.")
    return redirect("inbound_mail:addresses")


# -- mailboxes -------------------------------------------------------------------------------


@require_GET
@admin_required
def mailboxes(request):
    return render(
        request, "inbound_mail/mailboxes.html", {"mailboxes": list(selectors.mailboxes())}
    )


@admin_required
def mailbox_edit(request, pk: int | None = None):
    mailbox = (
        get_object_or_404(Mailbox, pk=pk) if pk else Mailbox(organization=request.organization)
    )
    form = MailboxForm(request.POST or None, instance=mailbox)
    if request.method == "POST" and form.is_valid():
        mailbox_services.mailbox_save(mailbox=form.save(commit=False))
        messages.success(request, "Mailbox saved.")
        return redirect("inbound_mail:mailboxes")
    context = {"form": form, "mailbox": mailbox}
    return render(request, "inbound_mail/mailbox_form.html", context, status=_status(request, form))


@require_POST
@admin_required
def mailbox_test(request, pk: int):
    mailbox = get_object_or_404(Mailbox, pk=pk)
    worked, text = mailbox_services.mailbox_test(mailbox=mailbox)
    context = {
        "mailboxes": list(selectors.mailboxes()),
        "tested": mailbox,
        "worked": worked,
        "result": text,
    }
    return render(request, "inbound_mail/mailboxes.html", context)


@require_POST
@admin_required
def mailbox_delete(request, pk: int):
    mailbox = get_object_or_404(Mailbox, pk=pk)
    asking = confirm.unconfirmed(
        request,
        confirm.Confirmation(
            f"Remove the mailbox “{mailbox.name}”?",
            reverse("inbound_mail:mailboxes"),
            detail="It is no longer checked; tickets from its mail stay.",
            action="Remove",
        ),
    )
    if asking:
        return asking
    mailbox_services.mailbox_delete(mailbox=mailbox)
    messages.success(request, "Mailbox removed.")
    return redirect("inbound_mail:mailboxes")


# -- spam list -------------------------------------------------------------------------------


@admin_required
def spam(request):
    form = SpamRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        spam_services.spam_rule_add(
            organization=request.organization,
            value=form.cleaned_data["value"],
            created_by=request.user,
        )
        messages.success(request, "Added to the spam list.")
        return redirect("inbound_mail:spam")
    return _spam_page(request, form, _trust_form(), status=_status(request, form))


def _spam_page(request, form, trust_form, *, status: int = 200):
    rules = list(SpamRule.objects.select_related("created_by"))
    context = {"form": form, "rules": rules, "trust_form": trust_form}
    return render(request, "inbound_mail/spam.html", context, status=status)


def _trust_form() -> TrustedHostsForm:
    return TrustedHostsForm(initial={"hosts": "\n".join(selectors.trusted_authserv_ids())})


@require_POST
@admin_required
def trusted_hosts(request):
    trust_form = TrustedHostsForm(request.POST)
    if not trust_form.is_valid():
        return _spam_page(request, SpamRuleForm(), trust_form, status=400)
    sender_trust.trusted_hosts_save(
        organization=request.organization, hosts=trust_form.cleaned_data["hosts"]
    )
    messages.success(request, "Trusted receiving hosts saved.")
    return redirect("inbound_mail:spam")


@require_POST
@admin_required
def spam_delete(request, pk: int):
    spam_services.spam_rule_remove(rule=get_object_or_404(SpamRule, pk=pk))
    messages.success(request, "Removed from the spam list.")
    return redirect("inbound_mail:spam")


@require_POST
@agent_required
def ticket_spam(request, number: int):
    ticket: Ticket = get_object_or_404(Ticket.objects.select_related("requester"), number=number)
    rule = spam_services.ticket_mark_spam(ticket=ticket, actor_user=request.user)
    messages.success(request, f"{rule.value} is on the spam list; the ticket is closed.")
    return redirect("tickets:detail", number=number)


# -- customer domains ------------------------------------------------------------------------


@admin_required
def domains(request):
    form = CustomerDomainForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            customer_domain_add(
                organization=request.organization,
                domain=form.cleaned_data["domain"],
                customer_name=form.cleaned_data["customer"],
            )
        except IntegrityError:
            form.add_error("domain", "This domain is already mapped to a customer.")
        else:
            messages.success(request, "Domain mapped.")
            return redirect("inbound_mail:domains")
    mappings = list(CustomerDomain.objects.select_related("customer").order_by("domain"))
    context = {"form": form, "mappings": mappings}
    return render(request, "inbound_mail/domains.html", context, status=_status(request, form))


@require_POST
@admin_required
def domain_delete(request, pk: int):
    customer_domain_remove(mapping=get_object_or_404(CustomerDomain, pk=pk))
    messages.success(request, "Mapping removed.")
    return redirect("inbound_mail:domains")
