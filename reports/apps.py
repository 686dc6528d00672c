"""Reports' start-up: the Settings -> Reports entry, the percentile function on SQLite
connections, and the task names for beat."""

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.backends.signals import connection_created

        from reports import tasks  # noqa: F401  # registers reports.refresh for beat
        from reports.percentiles import register_sqlite
        from tenants import settings_nav

        connection_created.connect(register_sqlite, dispatch_uid="reports_percentile")
        settings_nav.register(
            "Reports",
            "reports:index",
            order=58,
            description="How support is doing: volume, backlog, response and resolution "
            "times, SLA compliance, by team and agent.",
        )
