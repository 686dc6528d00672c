"""Macro URLs (included at the site root from config.urls): applying one under /agent/tickets/,
an agent's own under /agent/macros/, the shared ones under /settings/macros/ (so their POSTs are
audited like every settings change, tenants.audit)."""

from django.urls import path

from automations import macro_views as views

app_name = "macros"
urlpatterns = [
    path("agent/tickets/<int:number>/macro/", views.macro_apply_view, name="apply"),
    path("agent/tickets/bulk/macro/", views.macro_apply_bulk, name="apply_bulk"),
    path("agent/macros/", views.mine_list, name="mine"),
    path("agent/macros/new/", views.mine_edit, name="mine_new"),
    path("agent/macros/<int:pk>/", views.mine_edit, name="mine_edit"),
    path("agent/macros/<int:pk>/move/", views.mine_move, name="mine_move"),
    path("agent/macros/<int:pk>/delete/", views.mine_delete, name="mine_delete"),
    path("settings/macros/", views.shared_list, name="shared"),
    path("settings/macros/new/", views.shared_edit, name="shared_new"),
    path("settings/macros/<int:pk>/", views.shared_edit, name="shared_edit"),
    path("settings/macros/<int:pk>/move/", views.shared_move, name="shared_move"),
    path("settings/macros/<int:pk>/delete/", views.shared_delete, name="shared_delete"),
]
