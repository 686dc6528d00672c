"""URLs on the platform's own host (BASE_DOMAIN): no tenant is active here."""

from django.urls import include, path

from tickets import views as ticket_views

urlpatterns = [
    path("healthz", ticket_views.health, name="health"),
    path("", include("inbound_mail.urls_platform")),
    path("", include("outbound_mail.urls_platform")),
    path("", include("inbound_mail.urls_platform_auth")),
]
