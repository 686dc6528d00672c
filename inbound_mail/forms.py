"""Forms of the inbound mail settings pages (addresses, mailboxes, spam list, customer domains)
and the platform staff sign-in."""

import re

from django import forms
from django.core.validators import RegexValidator

from inbound_mail import domains
from inbound_mail.models import Mailbox
from tenants.forms import ThrottledAuthenticationForm

domain_validator = RegexValidator(
    r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
    "Enter a domain such as example.com.",
    flags=re.IGNORECASE,
)


class InboundAddressForm(forms.Form):
    """The address's shape only: whether this tenant may have it is the service's answer
    (inbound_mail.domains), so the form and a racing second request get the same one."""

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
        return address


class AddressConfirmationForm(InboundAddressForm):
    """One address on a domain not verified: we mail it a code that must come back."""


class ConfirmationCodeForm(forms.Form):
    code = forms.CharField(
        label="Code from the confirmation mail", max_length=100, help_text="hdconfirm-..."
    )


class MailDomainForm(forms.Form):
    domain = forms.CharField(label="Domain", max_length=253, help_text="Such as example.com.")

    def clean_domain(self):
        domain = self.cleaned_data["domain"].strip().lower().rstrip(".")
        # The platform's names (localhost among them) get the service's answer, not this one.
        if not domains.under_platform(domain):
            domain_validator(domain)
        return domain


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


class StaffAuthenticationForm(ThrottledAuthenticationForm):
    """The platform host is for platform staff only; failed sign-ins are throttled."""

    username = forms.EmailField(label="Email")

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not user.is_staff:
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class TrustedHostsForm(forms.Form):
    """The receiving hosts whose Authentication-Results headers prove an agent's mail."""

    MAX_HOSTS = 20

    hosts = forms.CharField(
        label="Trusted receiving hosts",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=(
            "One host name per line, as it signs its Authentication-Results headers (for "
            "example mx.google.com). Mail in an agent's name counts as theirs when one of these "
            "hosts recorded DMARC pass for the agent's domain; empty trusts no host."
        ),
    )

    def clean_hosts(self) -> list[str]:
        hosts = [line.strip().lower().rstrip(".") for line in self.cleaned_data["hosts"].split()]
        hosts = list(dict.fromkeys(h for h in hosts if h))
        if len(hosts) > self.MAX_HOSTS:
            raise forms.ValidationError(f"Enter at most {self.MAX_HOSTS} hosts.")
        for host in hosts:
            try:
                domain_validator(host)
            except forms.ValidationError:
                raise forms.ValidationError(
                    f"“{host[:100]}” is not a host name such as mx.example.com."
                ) from None
        return hosts
