"""Tenants' start-up: the system checks that keep tenancy fail-closed, the sign-in receivers
(sessions, audit log), and the members, teams and audit log settings pages."""

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from tenants import (
            auth_hooks,  # noqa: F401  (connects the sign-in receivers: sessions, audit log)
            checks,  # noqa: F401  (registers the system checks)
            settings_nav,
        )

        settings_nav.register("Members", "settings_members", 10, "Who can sign in, and as what.")
        settings_nav.register("Teams", "settings_teams", 20, "Groups of agents tickets go to.")
        settings_nav.register("Audit log", "settings_audit", 900, "Sign-ins and settings changes.")
