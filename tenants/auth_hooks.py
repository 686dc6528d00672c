"""django.contrib.auth's own hooks, connected in TenantsConfig.ready(): a sign-in on a tenant's
host records its session and an audit entry, a failed one an audit entry, a sign-out removes
the session's row. The sign-in views stay Django's; these receivers only call services."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from tenants import audit, sessions


@receiver(user_logged_in, dispatch_uid="tenants_user_logged_in")
def _signed_in(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        sessions.user_session_record(request=request, user=user)
        audit.audit_sign_in(request=request, user=user)


@receiver(user_login_failed, dispatch_uid="tenants_user_login_failed")
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    audit.audit_sign_in_failed(request=request, credentials=credentials)


@receiver(user_logged_out, dispatch_uid="tenants_user_logged_out")
def _signed_out(sender, request, user, **kwargs):
    if request is not None:
        sessions.user_session_forget(request=request)
        audit.audit_sign_out(request=request, user=user)
