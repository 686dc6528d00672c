"""Settings pages of a tenant (admins only): one page per concern."""

from django.urls import include, path

from tenants import security_views
from tenants import settings_views as tenant_settings
from tickets import image_views as ticket_images
from tickets import settings_views as ticket_settings
from tickets import tag_settings_views as tag_settings

urlpatterns = [
    path("statuses/", ticket_settings.statuses, name="settings_statuses"),
    path("statuses/<int:pk>/move/", ticket_settings.status_move, name="settings_status_move"),
    path("statuses/<int:pk>/delete/", ticket_settings.status_delete, name="settings_status_delete"),
    path("priorities/", ticket_settings.priorities, name="settings_priorities"),
    path(
        "priorities/<int:pk>/delete/",
        ticket_settings.priority_delete,
        name="settings_priority_delete",
    ),
    path("canned/", ticket_settings.canned_responses, name="settings_canned"),
    path("tags/", tag_settings.tags, name="settings_tags"),
    path("tags/<int:pk>/rename/", tag_settings.tag_rename_view, name="settings_tag_rename"),
    path("tags/<int:pk>/merge/", tag_settings.tag_merge_view, name="settings_tag_merge"),
    path("tags/<int:pk>/delete/", tag_settings.tag_delete_view, name="settings_tag_delete"),
    path("canned/<int:pk>/delete/", ticket_settings.canned_delete, name="settings_canned_delete"),
    path("remote-images/", ticket_images.image_senders, name="settings_remote_images"),
    path(
        "remote-images/<int:pk>/delete/",
        ticket_images.image_sender_delete,
        name="settings_remote_image_delete",
    ),
    path("members/", tenant_settings.members, name="settings_members"),
    path("members/<int:pk>/role/", tenant_settings.member_role, name="settings_member_role"),
    path("members/<int:pk>/remove/", tenant_settings.member_remove, name="settings_member_remove"),
    path(
        "members/invitations/<int:pk>/revoke/",
        tenant_settings.invitation_revoke,
        name="settings_invitation_revoke",
    ),
    path("teams/", tenant_settings.teams, name="settings_teams"),
    path("teams/<int:pk>/delete/", tenant_settings.team_delete, name="settings_team_delete"),
    path("audit/", security_views.audit_log, name="settings_audit"),
    path("sla/", include("sla.urls")),
    path("automations/", include("automations.urls")),
    path("portal/", include("portal.settings_urls")),
    path("portal/forms/", include("portal.form_settings_urls")),
    path("search/", include("search.settings_urls")),
]
