"""The customer portal's start-up: its settings pages and what it adds to the agent's ticket
page and list."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Customer portal"

    def ready(self):
        from portal import registration

        registration.connect()
