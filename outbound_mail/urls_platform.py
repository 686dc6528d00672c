"""ESP tracking webhooks on the platform host: anymail verifies them and sends `tracking`."""

from django.urls import path

from outbound_mail.tracking import VIEWS, tracking_view

app_name = "outbound_mail_platform"
urlpatterns = [path(f"tracking/{esp}/", tracking_view(esp), name=esp) for esp in VIEWS]
