"""Settings -> SLA, under /settings/sla/ (included from config.urls_settings)."""

from django.urls import path

from sla import settings_views as views

app_name = "sla"
urlpatterns = [
    path("", views.policies, name="policies"),
    path("policies/new/", views.policy_edit, name="policy_new"),
    path("policies/<int:pk>/", views.policy_edit, name="policy"),
    path("policies/<int:pk>/move/", views.policy_move, name="policy_move"),
    path("policies/<int:pk>/delete/", views.policy_delete, name="policy_delete"),
    path("calendars/", views.calendars, name="calendars"),
    path("calendars/<int:pk>/", views.calendar_edit, name="calendar"),
    path("calendars/<int:pk>/default/", views.calendar_default, name="calendar_default"),
    path("calendars/<int:pk>/delete/", views.calendar_delete, name="calendar_delete"),
    path("calendars/<int:pk>/holidays/", views.holiday_save, name="holiday_save"),
    path("calendars/<int:pk>/holidays/import/", views.holidays_import, name="holidays_import"),
    path(
        "calendars/<int:pk>/holidays/<int:hid>/delete/",
        views.holiday_delete,
        name="holiday_delete",
    ),
]
