from django.apps import AppConfig


class InboundMailConfig(AppConfig):
    name = "inbound_mail"
    verbose_name = "Inbound mail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from inbound_mail import webhooks
        from tenants import settings_nav

        webhooks.connect()
        for order, (label, url_name, description) in enumerate(SETTINGS_PAGES, start=70):
            settings_nav.register(label, url_name, order=order, description=description)


SETTINGS_PAGES = [
    ("Inbound addresses", "inbound_mail:addresses", "The addresses whose mail becomes tickets."),
    ("Mailboxes", "inbound_mail:mailboxes", "IMAP mailboxes checked every minute."),
    ("Quarantine", "inbound_mail:quarantine", "Mail that did not become a ticket or reply."),
    ("Spam list", "inbound_mail:spam", "Senders and domains whose mail is rejected."),
    ("Customer domains", "inbound_mail:domains", "Mail from these domains is filed by customer."),
]
