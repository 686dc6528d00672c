"""Forms of the contacts and customers pages."""

import re

from django import forms

from tickets.models import Customer

DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class ListSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)
    after = forms.CharField(required=False, max_length=400)


def _customer_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Customer.objects.all(), required=False, empty_label="No customer"
    )


class ContactForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    email = forms.EmailField(max_length=254, error_messages={"invalid": "Enter a valid address."})
    customer = forms.ModelChoiceField(queryset=Customer.objects.none(), required=False)
    notes = forms.CharField(
        required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"] = _customer_field()


class ContactEditForm(ContactForm):
    undeliverable = forms.BooleanField(
        required=False,
        label="Undeliverable",
        help_text="Mail to this contact bounced for good; untick to send to them again.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["email"]  # the primary address stays; further ones are added below


class AddressForm(forms.Form):
    email = forms.EmailField(max_length=254, error_messages={"invalid": "Enter a valid address."})


class ContactMergeForm(forms.Form):
    into = forms.CharField(
        max_length=254,
        label="Merge into",
        error_messages={"required": "Name the contact to keep (their address)."},
    )


class CustomerForm(forms.Form):
    name = forms.CharField(max_length=200, error_messages={"required": "Give the customer a name."})


class DomainForm(forms.Form):
    domain = forms.CharField(max_length=253)

    def clean_domain(self) -> str:
        domain = self.cleaned_data["domain"].strip().lower().lstrip("@")
        if not DOMAIN_RE.match(domain):
            raise forms.ValidationError("Enter a domain such as example.com.")
        return domain


class TicketMergeForm(forms.Form):
    into = forms.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        error_messages={
            "required": "Enter the number of the ticket to merge into.",
            "invalid": "Enter a ticket number, such as 42.",
            "min_value": "Enter a ticket number, such as 42.",
            "max_value": "Enter a ticket number, such as 42.",
        },
    )
