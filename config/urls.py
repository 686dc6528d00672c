"""URLs on a tenant's host (`<slug>.<BASE_DOMAIN>` or a verified custom domain)."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from live import relay_views
from portal import views as portal_views
from tenants import auth_views as tenant_auth_views
from tenants import away_views, security_views
from tenants import settings_views as tenant_settings
from tenants.forms import TenantAuthenticationForm
from tickets import views as ticket_views

urlpatterns = [
    path("", portal_views.home, name="home"),
    path("healthz", ticket_views.health, name="health"),
    # Browsers ask for /favicon.ico before (or without) reading the page's <link rel="icon">.
    path(
        "favicon.ico", RedirectView.as_view(url=f"{settings.STATIC_URL}favicon.svg", permanent=True)
    ),
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=TenantAuthenticationForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        tenant_auth_views.TenantPasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        tenant_auth_views.TenantPasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "invitations/<str:token>/",
        tenant_auth_views.invitation_accept,
        name="invitation_accept",
    ),
    path("agent/account/password/", security_views.account_password, name="account_password"),
    path("agent/account/sessions/", security_views.account_sessions, name="account_sessions"),
    path(
        "agent/account/sessions/<int:pk>/end/",
        security_views.account_session_end,
        name="account_session_end",
    ),
    path(
        "agent/account/sessions/end-others/",
        security_views.account_sessions_end_others,
        name="account_sessions_end_others",
    ),
    path("agent/account/away/", away_views.account_away, name="account_away"),
    path("agent/", include("tickets.urls")),
    path("settings/", tenant_settings.index, name="settings_index"),
    path("settings/", include("config.urls_settings")),
    path("", include("inbound_mail.urls")),
    path("", include("outbound_mail.urls")),
    path("", include("automations.macro_urls")),  # macros: /agent/… and /settings/macros/
    path("", include("portal.urls")),  # the customer portal: /tickets/, /new/, /contact/, …
    path("", include("live.urls")),  # live collaboration under /agent/: drafts
    path("agent/search/", include("search.urls")),  # full-text search, results as you type
    path("agent/reports/", include("reports.urls")),  # Reports, for admins and team managers
    # The worker's pushes, posted to the web process when the layer is not shared (live.relay).
    path("internal/live/relay/", relay_views.relay_post, name="live_relay"),
]
