"""The signed-in user's sessions on this tenant (ending the others) and password, and the
admins' audit log."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.messages.views import SuccessMessageMixin
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_GET, require_POST

from tenants import sessions
from tenants.access import admin_required, agent_required
from tenants.models import AuditEntry, UserSession

AUDIT_PAGE_SIZE = 50


@require_GET
@agent_required
def account_sessions(request):
    rows = sessions.user_sessions_live(user=request.user)
    context = {"rows": rows, "current_key": request.session.session_key}
    return render(request, "account/sessions.html", context)


@require_POST
@agent_required
def account_session_end(request, pk: int):
    row = UserSession.objects.filter(pk=pk, user=request.user).first()
    if row is None or row.session_key == request.session.session_key:
        # Someone else's session, or none: 404. This one ends by signing out.
        raise Http404("No such session.")
    sessions.user_session_end(session=row)
    messages.success(request, "That session is signed out.")
    return redirect("account_sessions")


@require_POST
@agent_required
def account_sessions_end_others(request):
    count = sessions.user_sessions_end_others(
        user=request.user, keep_key=request.session.session_key
    )
    messages.success(request, f"Signed out {count} other session{'' if count == 1 else 's'}.")
    return redirect("account_sessions")


class _PasswordChange(SuccessMessageMixin, auth_views.PasswordChangeView):
    # Django's view keeps this session (update_session_auth_hash); the user's others end at
    # once through tenants.sessions.EndSessionsOnPasswordChange.
    template_name = "account/password.html"
    success_url = reverse_lazy("account_sessions")
    success_message = "Password changed; your other sessions are signed out."


account_password = agent_required(_PasswordChange.as_view())


@require_GET
@admin_required
def audit_log(request):
    entries = AuditEntry.objects.select_related("actor").order_by("-created_at", "-pk")
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "settings/audit.html", {"page": page, "entries": list(page)})
