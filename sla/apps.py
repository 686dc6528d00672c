"""SLA's start-up: the synchronous ticket hooks (tickets.hooks) that start, stop, pause and
recompute timers inside each ticket change's transaction."""

from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "sla"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "SLA"

    def ready(self):
        from sla import tasks  # noqa: F401  # registers the task names sla.queue uses
        from sla.services import recompute, timers
        from tickets import hooks

        timers.connect()
        from sla import contributions

        contributions.register()  # Settings -> SLA pages; list badge, filters, sort; ticket card
        hooks.register(hooks.TICKETS_CHANGED, recompute.on_tickets_changed)
