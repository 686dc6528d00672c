"""Settings -> Automations, under /settings/automations/ (included from config.urls_settings,
so every POST is audited like every settings change, tenants.audit)."""

from django.urls import path

from automations import settings_views as views

app_name = "automations"
urlpatterns = [
    path("", views.rules, name="rules"),
    path("new/", views.rule_edit, name="rule_new"),
    path("runs/", views.runs, name="runs"),
    path("<int:pk>/", views.rule_edit, name="rule"),
    path("<int:pk>/enabled/", views.rule_enabled, name="rule_enabled"),
    path("<int:pk>/move/", views.rule_move, name="rule_move"),
    path("<int:pk>/delete/", views.rule_delete, name="rule_delete"),
]
