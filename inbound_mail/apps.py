"""Inbound mail's start-up: ESP webhook signals, its tasks, its settings pages and what it shows
on the ticket page."""

from django.apps import AppConfig


class InboundMailConfig(AppConfig):
    name = "inbound_mail"
    verbose_name = "Inbound mail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # `tasks` registers the task names inbound_mail.queue looks up, in web processes too
        # (only a worker imports tasks modules on its own): imported for that alone.
        from inbound_mail import (  # noqa: F401
            contact_states,
            contributions,
            merges,
            routing_cache,
            tasks,
            webhooks,
        )
        from tenants import settings_nav

        webhooks.connect()
        merges.connect()
        routing_cache.connect()
        contact_states.connect()
        contributions.register()
        for order, (label, url_name, description) in enumerate(SETTINGS_PAGES, start=70):
            settings_nav.register(label, url_name, order=order, description=description)


SETTINGS_PAGES = [
    ("Inbound addresses", "inbound_mail:addresses", "The addresses whose mail becomes tickets."),
    ("Mailboxes", "inbound_mail:mailboxes", "IMAP mailboxes checked every minute."),
    ("Quarantine", "inbound_mail:quarantine", "Mail that did not become a ticket or reply."),
    ("Spam list", "inbound_mail:spam", "Senders and domains whose mail is rejected."),
    ("Customer domains", "inbound_mail:domains", "Mail from these domains is filed by customer."),
]
