"""URLs on a tenant's host (`<slug>.<BASE_DOMAIN>` or a verified custom domain)."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from tenants.forms import TenantAuthenticationForm, TenantPasswordResetForm
from tickets import views as ticket_views

urlpatterns = [
    path("", ticket_views.home, name="home"),
    path("healthz", ticket_views.health, name="health"),
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=TenantAuthenticationForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(form_class=TenantPasswordResetForm),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("agent/", include("tickets.urls")),
    path("settings/", include("config.urls_settings")),
    path("", include("inbound_mail.urls")),
    path("", include("outbound_mail.urls")),
]
