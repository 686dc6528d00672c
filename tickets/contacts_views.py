"""The contacts and customers pages of the agent workspace, and merging or splitting tickets.
Views parse, call one service and render; another tenant's contact, customer or ticket is a 404."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from tenants.access import agent_required
from tickets import contact_selectors as selectors
from tickets import contact_states
from tickets.contact_forms import (
    AddressForm,
    ContactEditForm,
    ContactForm,
    ContactMergeForm,
    CustomerForm,
    DomainForm,
    ListSearchForm,
    TicketMergeForm,
)
from tickets.models import Comment, Contact, ContactEmail, Customer, CustomerDomain, Ticket
from tickets.services import contacts as services
from tickets.services.merge import MergeError, contact_merge, ticket_merge, ticket_split


def _errors(request, form) -> None:
    for errors in form.errors.values():
        messages.error(request, " ".join(errors))


def _search(request) -> tuple[str, str, str]:
    form = ListSearchForm(request.GET)
    form.is_valid()  # a bad cursor or an overlong query shows the first page
    q, after = form.cleaned_data.get("q", ""), form.cleaned_data.get("after", "")
    return q, after, f"q={q}" if q else ""


def _contact(pk: int) -> Contact:
    try:
        return selectors.contact_detail(pk)
    except Contact.DoesNotExist:
        raise Http404("No such contact.") from None


def _customer(pk: int) -> Customer:
    try:
        return selectors.customer_detail(pk)
    except Customer.DoesNotExist:
        raise Http404("No such customer.") from None


# -- contacts ------------------------------------------------------------------------------


@require_GET
@agent_required
def contact_list(request):
    q, after, _ = _search(request)
    page = selectors.contact_page(q, after)
    return render(request, "tickets/contacts/list.html", {"page": page, "q": q})


def _contact_context(contact, **forms):
    addresses = [contact.email, *(a.email for a in contact.emails.all())]
    return {
        "contact": contact,
        "contact_states": contact_states.states_for(addresses),
        "tickets": selectors.contact_tickets(contact),
        "edit_form": forms.get("edit_form")
        or ContactEditForm(
            initial={
                "name": contact.name,
                "customer": contact.customer_id,
                "notes": contact.notes,
                "undeliverable": contact.undeliverable,
            }
        ),
        "address_form": forms.get("address_form") or AddressForm(),
        "merge_form": forms.get("merge_form") or ContactMergeForm(),
    }


@require_GET
@agent_required
def contact_detail(request, pk: int):
    contact = _contact(pk)
    return render(request, "tickets/contacts/detail.html", _contact_context(contact))


@agent_required
def contact_new(request):
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            contact = services.contact_create(
                organization=request.organization,
                email=data["email"],
                name=data["name"],
                customer=data["customer"],
                notes=data["notes"],
            )
        except services.ContactError as exc:
            form.add_error("email", str(exc))
        else:
            messages.success(request, f"Contact {contact.display_name} created.")
            return redirect("tickets:contact", pk=contact.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "tickets/contacts/new.html", {"form": form}, status=status)


@require_POST
@agent_required
def contact_edit(request, pk: int):
    contact = _contact(pk)
    form = ContactEditForm(request.POST)
    if not form.is_valid():
        context = _contact_context(contact, edit_form=form)
        return render(request, "tickets/contacts/detail.html", context, status=400)
    data = form.cleaned_data
    services.contact_update(
        contact=contact,
        name=data["name"],
        customer=data["customer"],
        notes=data["notes"],
        undeliverable=data["undeliverable"],
    )
    messages.success(request, "Saved.")
    return redirect("tickets:contact", pk=contact.pk)


@require_POST
@agent_required
def contact_address_add(request, pk: int):
    contact = _contact(pk)
    form = AddressForm(request.POST)
    if form.is_valid():
        try:
            address = services.contact_email_add(contact=contact, email=form.cleaned_data["email"])
        except services.ContactError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Mail from {address.email} is now {contact.display_name}'s.")
    else:
        _errors(request, form)
    return redirect("tickets:contact", pk=contact.pk)


@require_POST
@agent_required
def contact_address_remove(request, pk: int, address_pk: int):
    contact = _contact(pk)
    address = ContactEmail.objects.filter(pk=address_pk, contact=contact).first()
    if address is None:
        raise Http404("No such address.")
    services.contact_email_remove(address=address)
    messages.success(request, f"Removed {address.email}.")
    return redirect("tickets:contact", pk=contact.pk)


def _merge_target(value: str) -> Contact | None:
    """The contact to keep: by id (the page's links) or by any of its addresses."""
    value = value.strip()
    if value.isdigit():
        contact = Contact.objects.filter(pk=int(value)).first()
        if contact is None:
            raise Http404("No such contact.")
        return contact
    email = value.lower()
    contact = Contact.objects.filter(email=email).first()
    if contact is None:
        row = ContactEmail.objects.filter(email=email).select_related("contact").first()
        contact = row.contact if row else None
    return contact


@require_POST
@agent_required
def contact_merge_view(request, pk: int):
    contact = _contact(pk)
    form = ContactMergeForm(request.POST)
    if not form.is_valid():
        _errors(request, form)
        return redirect("tickets:contact", pk=contact.pk)
    into = _merge_target(form.cleaned_data["into"])
    if into is None:
        messages.error(request, f"No contact has the address {form.cleaned_data['into']}.")
        return redirect("tickets:contact", pk=contact.pk)
    if into.pk == contact.pk:
        raise Http404("A contact cannot be merged with itself.")
    try:
        survivor = contact_merge(contact=contact, into=into, actor_user=request.user)
    except MergeError as exc:
        messages.error(request, str(exc))
        return redirect("tickets:contact", pk=contact.pk)
    messages.success(request, f"Merged {contact.email} into {survivor.display_name}.")
    return redirect("tickets:contact", pk=survivor.pk)


# -- customers -----------------------------------------------------------------------------


@require_GET
@agent_required
def customer_list(request):
    q, after, _ = _search(request)
    page = selectors.customer_page(q, after)
    return render(request, "tickets/customers/list.html", {"page": page, "q": q})


def _customer_context(customer, **forms):
    return {
        "customer": customer,
        "contacts": selectors.customer_contacts(customer),
        "tickets": selectors.customer_tickets(customer),
        "edit_form": forms.get("edit_form") or CustomerForm(initial={"name": customer.name}),
        "domain_form": forms.get("domain_form") or DomainForm(),
    }


@require_GET
@agent_required
def customer_detail(request, pk: int):
    customer = _customer(pk)
    return render(request, "tickets/customers/detail.html", _customer_context(customer))


@agent_required
def customer_new(request):
    form = CustomerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        customer = services.customer_create(
            organization=request.organization, name=form.cleaned_data["name"]
        )
        messages.success(request, f"Customer {customer.name} created.")
        return redirect("tickets:customer", pk=customer.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "tickets/customers/new.html", {"form": form}, status=status)


@require_POST
@agent_required
def customer_edit(request, pk: int):
    customer = _customer(pk)
    form = CustomerForm(request.POST)
    if not form.is_valid():
        context = _customer_context(customer, edit_form=form)
        return render(request, "tickets/customers/detail.html", context, status=400)
    services.customer_update(customer=customer, name=form.cleaned_data["name"])
    messages.success(request, "Saved.")
    return redirect("tickets:customer", pk=customer.pk)


@require_POST
@agent_required
def customer_domain_add(request, pk: int):
    customer = _customer(pk)
    form = DomainForm(request.POST)
    if form.is_valid():
        try:
            services.customer_domain_attach(customer=customer, domain=form.cleaned_data["domain"])
        except services.ContactError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Mail from {form.cleaned_data['domain']} is filed here.")
    else:
        _errors(request, form)
    return redirect("tickets:customer", pk=customer.pk)


@require_POST
@agent_required
def customer_domain_remove(request, pk: int, domain_pk: int):
    customer = _customer(pk)
    mapping = CustomerDomain.objects.filter(pk=domain_pk, customer=customer).first()
    if mapping is None:
        raise Http404("No such domain.")
    services.customer_domain_remove(mapping=mapping)
    messages.success(request, f"Removed {mapping.domain}.")
    return redirect("tickets:customer", pk=customer.pk)


# -- merging and splitting tickets ---------------------------------------------------------


def _ticket(number: int) -> Ticket:
    ticket = Ticket.objects.filter(number=number).first()
    if ticket is None:
        raise Http404("No such ticket.")
    return ticket


@require_POST
@agent_required
def ticket_merge_view(request, number: int):
    ticket = _ticket(number)
    form = TicketMergeForm(request.POST)
    if not form.is_valid():
        _errors(request, form)
        return redirect("tickets:detail", number=number)
    into = Ticket.objects.filter(number=form.cleaned_data["into"]).first()
    if into is None:
        # The same answer for a number of no ticket and one of another tenant's.
        messages.error(request, f"There is no ticket #{form.cleaned_data['into']}.")
        return redirect("tickets:detail", number=number)
    try:
        survivor = ticket_merge(ticket=ticket, into=into, actor_user=request.user)
    except MergeError as exc:
        messages.error(request, str(exc))
        return redirect("tickets:detail", number=number)
    messages.success(request, f"Merged #{ticket.number} into #{survivor.number}.")
    return redirect("tickets:detail", number=survivor.number)


@require_POST
@agent_required
def ticket_split_view(request, number: int, comment_pk: int):
    ticket = _ticket(number)
    comment = Comment.objects.filter(pk=comment_pk, ticket=ticket).first()
    if comment is None:
        raise Http404("No such message.")
    try:
        new = ticket_split(comment=comment, actor_user=request.user)
    except MergeError as exc:
        messages.error(request, str(exc))
        return redirect("tickets:detail", number=number)
    messages.success(request, f"Split the message off into #{new.number}.")
    return redirect("tickets:detail", number=new.number)
