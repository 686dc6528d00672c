"""Search's start-up: the ticket list's text filter (tickets.contributions) and the top bar's
results come from here; Settings -> Search in the settings navigation; the reindex task."""

from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from search import registration

        registration.connect()
        # search.engine.ddl: triggers SQLite dropped with a remade table come back.
        post_migrate.connect(registration.ensure_index_objects, sender=self)
