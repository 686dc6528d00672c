"""ESP tracking webhooks on the platform host: anymail verifies them and sends `tracking`."""

from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.urls import path

app_name = "outbound_mail_platform"
urlpatterns = [
    path("tracking/mailgun/", MailgunTrackingWebhookView.as_view(), name="mailgun"),
    path("tracking/postmark/", PostmarkTrackingWebhookView.as_view(), name="postmark"),
    path("tracking/sendgrid/", SendGridTrackingWebhookView.as_view(), name="sendgrid"),
    path("tracking/amazon_ses/", AmazonSESTrackingWebhookView.as_view(), name="amazon_ses"),
]
