"""Live's start-up: the publisher hears the ticket services' domain events and outbound mail's
new in-app notices; drafts hear the comments that clear them."""

import importlib.util

from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "live"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from live import presence, publish, relay

        publish.connect()
        relay.use_presence_broadcast(presence.presence_broadcast)
        if importlib.util.find_spec("live.drafts") is not None:
            from live import drafts

            register = getattr(drafts, "register", None)
            if register is not None:
                register()
