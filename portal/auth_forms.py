"""The portal's sign-in and profile forms: asking for a link, signing in with a password, the
contact's name and mail choice, and a new password (Django's password validators)."""

from django import forms
from django.contrib.auth import password_validation

from portal.models import PortalAccount


class LinkRequestForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={
            "required": "Enter the email address you write to us from.",
            "invalid": "Enter a whole email address, like name@example.com.",
        },
    )


class PasswordSignInForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username"}),
        error_messages={"required": "Enter your email address."},
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": "Enter your password."},
    )


class ProfileForm(forms.Form):
    MAIL_ALL, MAIL_NONE = "all", "none"

    name = forms.CharField(
        label="Your name",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        help_text="How we address you in replies.",
    )
    mail = forms.ChoiceField(
        label="Mail about your requests",
        choices=[(MAIL_ALL, "Mail me every public reply"), (MAIL_NONE, "No mail")],
        widget=forms.RadioSelect,
        help_text="With “No mail” you see replies here only. We still confirm each new request.",
        error_messages={"required": "Choose whether we mail you about replies."},
    )

    @property
    def mail_replies(self) -> bool:
        return self.cleaned_data["mail"] == self.MAIL_ALL


class PasswordForm(forms.Form):
    """A new password (twice); the current one too when the account has one."""

    current_password = forms.CharField(
        label="Current password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": "Enter your current password."},
    )
    new_password1 = forms.CharField(
        label="New password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        error_messages={"required": "Enter a new password."},
    )
    new_password2 = forms.CharField(
        label="New password again",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        error_messages={"required": "Enter the new password a second time."},
    )

    def __init__(self, *args, account: PortalAccount, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        if not account.password:
            del self.fields["current_password"]
        rules = [t for t in password_validation.password_validators_help_texts() if t]
        self.fields["new_password1"].help_text = " ".join(rules)

    def clean_new_password1(self) -> str:
        password = self.cleaned_data["new_password1"]
        password_validation.validate_password(password, user=None)
        return password

    def clean(self):
        data = super().clean() or {}
        first, second = data.get("new_password1"), data.get("new_password2")
        if first and second and first != second:
            self.add_error("new_password2", "The two passwords differ; type the same one twice.")
        return data
