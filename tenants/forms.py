"""Sign-in and password-reset forms that only accept members of the host's tenant."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm

from tenants.models import Membership, User


class TenantAuthenticationForm(AuthenticationForm):
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
    """Reset mail only for members of the tenant whose host the form was sent from."""

    def get_users(self, email):
        member_ids = Membership.objects.values("user_id")
        return User.objects.filter(email__iexact=email, is_active=True, pk__in=member_ids)
