"""Inbound mail on a tenant's host: settings pages and the ticket's "Mark as spam"."""

from django.urls import path

from inbound_mail import views

app_name = "inbound_mail"
urlpatterns = [
    path("settings/mail/quarantine/", views.quarantine, name="quarantine"),
    path("settings/mail/messages/<int:pk>/raw/", views.message_raw, name="message_raw"),
    path(
        "settings/mail/messages/<int:pk>/reprocess/",
        views.message_reprocess,
        name="message_reprocess",
    ),
    path("settings/mail/messages/<int:pk>/delete/", views.message_delete, name="message_delete"),
    path("settings/mail/addresses/", views.addresses, name="addresses"),
    path(
        "settings/mail/addresses/<int:pk>/default/", views.address_default, name="address_default"
    ),
    path("settings/mail/addresses/<int:pk>/delete/", views.address_delete, name="address_delete"),
    path(
        "settings/mail/addresses/domains/<int:pk>/verify/",
        views.mail_domain_verify,
        name="mail_domain_verify",
    ),
    path(
        "settings/mail/addresses/domains/<int:pk>/delete/",
        views.mail_domain_delete,
        name="mail_domain_delete",
    ),
    path(
        "settings/mail/addresses/confirmations/<int:pk>/cancel/",
        views.address_confirmation_cancel,
        name="address_confirmation_cancel",
    ),
    path("settings/mail/mailboxes/", views.mailboxes, name="mailboxes"),
    path("settings/mail/mailboxes/new/", views.mailbox_edit, name="mailbox_new"),
    path("settings/mail/mailboxes/<int:pk>/", views.mailbox_edit, name="mailbox_edit"),
    path("settings/mail/mailboxes/<int:pk>/test/", views.mailbox_test, name="mailbox_test"),
    path("settings/mail/mailboxes/<int:pk>/delete/", views.mailbox_delete, name="mailbox_delete"),
    path("settings/mail/spam/", views.spam, name="spam"),
    path("settings/mail/spam/<int:pk>/delete/", views.spam_delete, name="spam_delete"),
    path("settings/mail/spam/trusted-hosts/", views.trusted_hosts, name="trusted_hosts"),
    path("settings/mail/domains/", views.domains, name="domains"),
    path("settings/mail/domains/<int:pk>/delete/", views.domain_delete, name="domain_delete"),
    path("agent/tickets/<int:number>/spam/", views.ticket_spam, name="ticket_spam"),
]
