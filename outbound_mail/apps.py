"""Outbound mail's start-up: domain-event subscribers, ESP tracking signals, its settings pages and
the delivery status it shows on the ticket page."""

from django.apps import AppConfig


class OutboundMailConfig(AppConfig):
    name = "outbound_mail"
    label = "outbound_mail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from outbound_mail import contributions, merges, subscribers, tracking
        from tenants import settings_nav

        subscribers.connect()
        merges.connect()
        tracking.connect()
        contributions.register()
        from outbound_mail.services.withdrawal import PROVIDER
        from tickets import reply_delivery

        reply_delivery.register(PROVIDER)  # Undo and "Sending in 2 min" on the ticket page
        for order, (label, url_name, description) in enumerate(SETTINGS_PAGES, start=60):
            settings_nav.register(label, url_name, order=order, description=description)


SETTINGS_PAGES = [
    ("Email sending", "outbound_mail:email", "The SMTP server mail goes out through."),
    ("Email templates", "outbound_mail:templates", "What each automatic mail says."),
    ("Notifications", "outbound_mail:notification_defaults", "What agents hear about, by default."),
    ("Branding", "outbound_mail:branding", "Logo, colour, sender name and footer of every mail."),
]
