"""Automations' start-up: the domain events its rules hear, its settings pages, its ticket page
and list contributions."""

from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    name = "automations"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Automations"

    def ready(self):
        from automations import registration

        registration.connect()
