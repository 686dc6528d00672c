"""Pages on a tenant's host for people not (yet) signed in to it: choosing a new password from
a reset link, and accepting an invitation."""

from django import forms
from django.contrib import messages
from django.contrib.auth import authenticate, login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render

from tenants import services, throttle
from tenants.forms import TenantPasswordResetForm
from tenants.models import Invitation, Membership, User
from tenants.tokens import TenantPasswordResetTokenGenerator, invitation_from_token


class TenantPasswordResetView(auth_views.PasswordResetView):
    """Reset requests are throttled per account and per client address."""

    form_class = TenantPasswordResetForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


class TenantPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A reset link works only on the host of the tenant it was mailed for, for its members."""

    def dispatch(self, request, *args, **kwargs):
        self.token_generator = TenantPasswordResetTokenGenerator(request.organization)
        return super().dispatch(request, *args, **kwargs)

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        if user is None or not Membership.objects.filter(user=user).exists():
            return None
        assert isinstance(user, User)  # AUTH_USER_MODEL
        return user


class InvitationPasswordForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, strip=False)


def invitation_accept(request, token: str):
    """Join the tenant from the mailed link: signed in here as the invitee (or signing in as
    them on this page, with their existing password), never as anyone else."""
    invitation = invitation_from_token(token, request.organization)
    if invitation is None:
        return render(request, "registration/invitation_invalid.html", status=404)
    invitee = invitation.user
    if request.user.is_authenticated and request.user.pk != invitee.pk:
        context = {"invitation": invitation, "wrong_user": request.user}
        return render(request, "registration/invitation_accept.html", context, status=403)
    form = InvitationPasswordForm(request.POST or None)
    if request.method != "POST":
        return _accept_page(request, invitation, form)
    if request.user.is_authenticated:
        return _accepted(request, invitation, request.user)
    if not form.is_valid():
        return _accept_page(request, invitation, form, status=400)
    user = _sign_in(request, invitee.email, form)
    if user is None or user.pk != invitee.pk:
        return _accept_page(request, invitation, form, status=400)
    return _accepted(request, invitation, user)


def _sign_in(request, email: str, form: InvitationPasswordForm):
    """The invitee's password, throttled like the sign-in form (same counters)."""
    address = throttle.client_address(request)
    try:
        throttle.check(throttle.SIGN_IN, account=email, address=address)
        user = authenticate(request, username=email, password=form.cleaned_data["password"])
        if user is None:
            throttle.fail(throttle.SIGN_IN, account=email, address=address)
            form.add_error("password", "That is not the password of this account.")
            return None
    except throttle.Throttled as exc:
        form.add_error("password", str(exc))
        return None
    throttle.succeed(throttle.SIGN_IN, account=email)
    return user


def _accept_page(request, invitation: Invitation, form, status: int = 200):
    context = {"invitation": invitation, "form": form}
    return render(request, "registration/invitation_accept.html", context, status=status)


def _accepted(request, invitation: Invitation, user):
    services.invitation_accept(invitation=invitation, user=user)
    if not request.user.is_authenticated:
        login(request, user)
    messages.success(request, f"Welcome to {request.organization.name}.")
    return redirect("tickets:list")
