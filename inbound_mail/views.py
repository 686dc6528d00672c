"""Settings pages for inbound mail (tenant admins) and the agent's "Mark as spam"."""

from django.contrib import messages
from django.db import IntegrityError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from inbound_mail import raw_mail, selectors
from inbound_mail.forms import CustomerDomainForm, InboundAddressForm, MailboxForm, SpamRuleForm
from inbound_mail.models import InboundAddress, InboundMessage, Mailbox, SpamRule
from inbound_mail.services import addresses as address_services
from inbound_mail.services import mailboxes as mailbox_services
from inbound_mail.services import quarantine as quarantine_services
from inbound_mail.services import spam as spam_services
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


@admin_required
def addresses(request):
    form = InboundAddressForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            address_services.inbound_address_add(
                organization=request.organization,
                address=form.cleaned_data["address"],
                plus_addressing=form.cleaned_data["plus_addressing"],
            )
        except IntegrityError:  # taken between the form's check and the insert
            form.add_error("address", "This address is already in use.")
        else:
            messages.success(request, "Address added.")
            return redirect("inbound_mail:addresses")
    context = {"form": form, "addresses": list(InboundAddress.objects.all())}
    return render(request, "inbound_mail/addresses.html", context, status=_status(request, form))


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
    mailbox_services.mailbox_delete(mailbox=get_object_or_404(Mailbox, pk=pk))
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
    rules = list(SpamRule.objects.select_related("created_by"))
    context = {"form": form, "rules": rules}
    return render(request, "inbound_mail/spam.html", context, status=_status(request, form))


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
