"""Outgoing mail on a tenant's host: the agent's notifications, the admin's settings pages."""

from django.urls import path

from outbound_mail import views

app_name = "outbound_mail"
urlpatterns = [
    path("agent/notifications/", views.notification_list, name="notifications"),
    path("agent/notifications/bell/", views.notification_bell, name="bell"),
    path("agent/notifications/read/", views.notifications_read, name="notifications_read"),
    path("agent/notifications/<int:pk>/", views.notification_open, name="notification_open"),
    path("agent/notifications/preferences/", views.preferences, name="preferences"),
    path("settings/email/", views.email_settings, name="email"),
    path("settings/email/test/", views.email_test, name="email_test"),
    path("settings/email/dkim/", views.dkim_settings, name="dkim"),
    path("settings/email/dkim/check/", views.dkim_check, name="dkim_check"),
    path("settings/email/dkim/activate/", views.dkim_activate, name="dkim_activate"),
    path("settings/email/dkim/disable/", views.dkim_disable, name="dkim_disable"),
    path("settings/notifications/", views.notification_defaults, name="notification_defaults"),
    path("settings/templates/", views.template_list, name="templates"),
    path("settings/templates/<slug:kind>/", views.template_edit, name="template_edit"),
    path(
        "settings/templates/<slug:kind>/preview/", views.template_preview, name="template_preview"
    ),
    path("settings/templates/<slug:kind>/reset/", views.template_reset, name="template_reset"),
    path("settings/branding/", views.branding, name="branding"),
    path("brand/logo", views.logo, name="logo"),
]
