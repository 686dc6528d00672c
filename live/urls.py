"""Live collaboration's pages, under /agent/ (config/urls.py includes them): the draft endpoint."""

from django.urls import path

from live import views

app_name = "live"
urlpatterns = [
    path("agent/tickets/<int:number>/draft/", views.ticket_draft, name="draft"),
]
