"""The websocket URLs (config.asgi routes every websocket here)."""

from django.urls import path

from live.consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
]
