"""Forms of the inbound mail settings pages (addresses, mailboxes, spam list, customer domains)
and the platform staff sign-in."""

import re

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import RegexValidator
from django_scopes import scopes_disabled

from inbound_mail.models import InboundAddress, Mailbox

domain_validator = RegexValidator(
    r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
    "Enter a domain such as example.com.",
    flags=re.IGNORECASE,
)


class InboundAddressForm(forms.Form):
    address = forms.EmailField(label="Address", max_length=254)
    plus_addressing = forms.BooleanField(
        label="Also accept address+anything@ (needed for reply tokens)",
        required=False,
        initial=True,
    )

    def clean_address(self):
        address = self.cleaned_data["address"].strip().lower()
        if "+" in address.partition("@")[0]:
            raise forms.ValidationError("Use the address without a +tag.")
        # Addresses are unique across tenants; the answer is yes or no, never whose it is.
        with scopes_disabled():  # yes/no uniqueness across tenants
            taken = InboundAddress.objects.filter(address=address).exists()
        if taken:
            raise forms.ValidationError("This address is already in use.")
        return address


class MailboxForm(forms.ModelForm):
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Leave empty to keep the current password.",
    )

    class Meta:
        model = Mailbox
        fields = [
            "name",
            "host",
            "port",
            "security",
            "username",
            "password",
            "folder",
            "after_intake",
            "move_to",
            "enabled",
        ]

    def clean_password(self):
        password = self.cleaned_data.get("password", "")
        if not password and self.instance.pk:
            return self.instance.password
        if not password:
            raise forms.ValidationError("Enter the mailbox password.")
        return password

    def clean(self):
        data = super().clean() or {}
        if data.get("after_intake") == Mailbox.AfterIntake.MOVE and not data.get("move_to"):
            self.add_error("move_to", "Name the folder to move processed mail to.")
        return data


class SpamRuleForm(forms.Form):
    value = forms.CharField(
        label="Address or domain",
        max_length=254,
        help_text="someone@example.com blocks one sender; example.com blocks the whole domain.",
    )

    def clean_value(self):
        value = self.cleaned_data["value"].strip().lower().lstrip("@")
        if "@" in value:
            forms.EmailField().clean(value)
        else:
            domain_validator(value)
        return value


class CustomerDomainForm(forms.Form):
    domain = forms.CharField(max_length=253, validators=[domain_validator])
    customer = forms.CharField(
        label="Customer", max_length=200, help_text="An existing customer, or a new one."
    )

    def clean_domain(self):
        return self.cleaned_data["domain"].strip().lower().lstrip("@")


class StaffAuthenticationForm(AuthenticationForm):
    """The platform host is for platform staff only."""

    username = forms.EmailField(label="Email")

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not user.is_staff:
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )
