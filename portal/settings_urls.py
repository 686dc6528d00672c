"""Settings -> Portal (`portal_settings:` names, under /settings/portal/): the page, and one
customer's company-wide visibility switch."""

from django.urls import path

from portal import settings_views

app_name = "portal_settings"
urlpatterns = [
    path("", settings_views.index, name="index"),
    path("customers/<int:pk>/company/", settings_views.company_access, name="company_access"),
]
