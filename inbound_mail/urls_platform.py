"""Inbound mail on the platform host: ESP webhooks, the MTA mailgate and the quarantine of
unclaimed mail."""

from django.urls import path

from inbound_mail import mailgate_views, platform_views, webhooks

app_name = "inbound_mail_platform"
urlpatterns = [
    path("inbound/mailgun/", webhooks.webhook_view("mailgun"), name="mailgun"),
    path("inbound/postmark/", webhooks.webhook_view("postmark"), name="postmark"),
    path("inbound/sendgrid/", webhooks.webhook_view("sendgrid"), name="sendgrid"),
    path("inbound/amazon_ses/", webhooks.webhook_view("amazon_ses"), name="amazon_ses"),
    path("inbound/mailgate/", mailgate_views.mailgate, name="mailgate"),
    path("platform/quarantine/", platform_views.unclaimed, name="unclaimed"),
    path("platform/quarantine/<int:pk>/raw/", platform_views.unclaimed_raw, name="unclaimed_raw"),
    path(
        "platform/quarantine/<int:pk>/reprocess/",
        platform_views.unclaimed_reprocess,
        name="unclaimed_reprocess",
    ),
    path(
        "platform/quarantine/<int:pk>/delete/",
        platform_views.unclaimed_delete,
        name="unclaimed_delete",
    ),
]
