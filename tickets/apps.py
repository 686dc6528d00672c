"""Tickets' start-up: the default statuses and priorities every new tenant gets, and its settings
pages."""

from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from tenants import provisioning, settings_nav
        from tickets import contributions
        from tickets.services.defaults import defaults_create

        # Merge and split on the ticket page, through the same hook the apps above use.
        contributions.register(
            contributions.Contribution(
                name="tickets.merge",
                comment_templates=("tickets/merge/_split_button.html",),
                sidebar_templates=("tickets/merge/_card.html",),
            )
        )
        # A reply by mail the send guard held says so in its entry (tickets.services.send_guard).
        contributions.register(
            contributions.Contribution(
                name="tickets.send_guard", comment_templates=("tickets/_held_mark.html",)
            )
        )

        provisioning.register("tickets.defaults", defaults_create)

        settings_nav.register(
            "Statuses", "settings_statuses", 30, "The steps a ticket goes through."
        )
        settings_nav.register("Priorities", "settings_priorities", 40, "How urgent a ticket is.")
        settings_nav.register("Canned responses", "settings_canned", 50, "Reusable replies.")
        settings_nav.register(
            "Tags", "settings_tags", 55, "The labels on tickets: rename, merge or delete them."
        )
        settings_nav.register(
            "Remote images",
            "settings_remote_images",
            55,
            "Senders whose mail shows its remote images without asking.",
        )
