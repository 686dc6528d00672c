"""Sign-in and password-reset forms that only accept members of the host's tenant, throttled
against guessing (tenants.throttle)."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from tenants import throttle
from tenants.hosts import organization_url
from tenants.models import Membership, Organization, User
from tenants.tokens import TenantPasswordResetTokenGenerator


class ThrottledAuthenticationForm(AuthenticationForm):
    """Refuses every sign-in, right password or not, while the account or the client's address
    is locked; counts each failure. Unknown accounts are counted and refused exactly like known
    ones, and Django's backend hashes the password for them too, so nothing tells them apart."""

    def clean(self):
        account = str(self.data.get("username", ""))
        address = throttle.client_address(self.request)
        try:
            throttle.check(throttle.SIGN_IN, account=account, address=address)
            try:
                data = super().clean()
            except forms.ValidationError:
                throttle.fail(throttle.SIGN_IN, account=account, address=address)
                throttle.check(throttle.SIGN_IN, account=account, address=address)
                raise
        except throttle.Throttled as exc:
            raise forms.ValidationError(str(exc), code="throttled") from None
        if self.get_user() is not None:  # signed in (not merely a form missing its password)
            throttle.succeed(throttle.SIGN_IN, account=account)
        return data


class TenantAuthenticationForm(ThrottledAuthenticationForm):
    """Only people who belong to this tenant may sign in on its host."""

    username = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autofocus": True}))

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not Membership.objects.filter(user=user).exists():
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class TenantPasswordResetForm(PasswordResetForm):
    """Reset mail only for members of the tenant whose host the form was sent from, with a link
    to that tenant's configured host (never the request's Host header) and a token bound to it."""

    def __init__(self, *args, request=None, **kwargs):
        # The public reset page passes its request (the client's address is throttled too);
        # an admin's invitation mail does not, and is not throttled.
        self.request = request
        super().__init__(*args, **kwargs)

    def clean_email(self):
        email = self.cleaned_data["email"]
        if self.request is not None:
            address = throttle.client_address(self.request)
            try:
                throttle.attempt(throttle.PASSWORD_RESET, account=email, address=address)
            except throttle.Throttled as exc:
                raise forms.ValidationError(str(exc), code="throttled") from None
        return email

    def get_users(self, email):
        member_ids = Membership.objects.values("user_id")
        return User.objects.filter(email__iexact=email, is_active=True, pk__in=member_ids)

    def save(  # type: ignore[override]  # the tenant's host replaces domain and protocol
        self,
        *,
        request,
        subject_template_name: str = "registration/password_reset_subject.txt",
        email_template_name: str = "registration/password_reset_email.html",
        from_email: str | None = None,
        html_email_template_name: str | None = None,
        extra_email_context: dict | None = None,
        **ignored,
    ) -> None:
        organization = request.organization
        for user in self.get_users(self.cleaned_data["email"]):
            context = {
                "email": user.email,
                "user": user,
                "site_name": organization.name,
                "organization": organization,
                "url": password_reset_url(organization, user),
                **(extra_email_context or {}),
            }
            self.send_mail(
                subject_template_name,
                email_template_name,
                context,
                from_email,
                user.email,
                html_email_template_name=html_email_template_name,
            )


def password_reset_url(organization: Organization, user: User) -> str:
    token = TenantPasswordResetTokenGenerator(organization).make_token(user)
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})
    return organization_url(organization, path)
