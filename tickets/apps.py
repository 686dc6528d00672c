"""Tickets' start-up: the default statuses and priorities every new tenant gets, and its settings
pages."""

from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from tenants import provisioning, settings_nav
        from tickets.services.defaults import defaults_create

        provisioning.register("tickets.defaults", defaults_create)

        settings_nav.register(
            "Statuses", "settings_statuses", 30, "The steps a ticket goes through."
        )
        settings_nav.register("Priorities", "settings_priorities", 40, "How urgent a ticket is.")
        settings_nav.register("Canned responses", "settings_canned", 50, "Reusable replies.")
