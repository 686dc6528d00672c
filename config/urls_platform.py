"""URLs on the platform's own host (BASE_DOMAIN): no tenant is active here."""

from django.urls import path

from tickets import views as ticket_views

urlpatterns = [
    path("healthz", ticket_views.health, name="health"),
]
