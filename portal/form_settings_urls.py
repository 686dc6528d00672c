"""Settings -> Portal forms, under /settings/portal/forms/ (included from config.urls_settings,
so every POST is audited like every settings change, tenants.audit)."""

from django.urls import path

from portal import form_settings_views as views

app_name = "portal_forms"
urlpatterns = [
    path("", views.form_list, name="list"),
    path("new/", views.form_edit, name="new"),
    path("<int:pk>/", views.form_edit, name="edit"),
    path("<int:pk>/move/", views.form_move, name="move"),
    path("<int:pk>/delete/", views.form_delete, name="delete"),
    path("<int:pk>/fields/new/", views.field_edit, name="field_new"),
    path("<int:pk>/fields/<int:field_pk>/", views.field_edit, name="field"),
    path("<int:pk>/fields/<int:field_pk>/move/", views.field_move, name="field_move"),
    path("<int:pk>/fields/<int:field_pk>/delete/", views.field_delete, name="field_delete"),
]
