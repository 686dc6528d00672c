"""The agent workspace's URLs under /agent/."""

from django.urls import path

from tickets import views

app_name = "tickets"
urlpatterns = [
    path("", views.ticket_list, name="list"),
    path("tickets/new/", views.ticket_new, name="new"),
    path("tickets/bulk/", views.ticket_bulk, name="bulk"),
    path("tickets/<int:number>/", views.ticket_detail, name="detail"),
    path("tickets/<int:number>/reply/", views.ticket_reply, name="reply"),
    path("tickets/<int:number>/update/", views.ticket_update, name="update"),
    path(
        "tickets/<int:number>/attachments/<int:pk>/",
        views.attachment_download,
        name="attachment",
    ),
    path("tickets/<int:number>/canned/<int:pk>/", views.canned_render, name="canned"),
]
