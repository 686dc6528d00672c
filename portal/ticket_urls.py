"""The contact's tickets in the portal (`portal:` names): the list, a ticket, its attachments,
and the reply, close and reopen it takes."""

from django.urls import path

from portal import ticket_views

urlpatterns = [
    path("tickets/", ticket_views.ticket_list, name="tickets"),
    path("tickets/<int:number>/", ticket_views.ticket_detail, name="ticket"),
    path("tickets/<int:number>/reply/", ticket_views.ticket_reply, name="reply"),
    path("tickets/<int:number>/close/", ticket_views.ticket_close, name="close"),
    path("tickets/<int:number>/reopen/", ticket_views.ticket_reopen, name="reopen"),
    path(
        "tickets/<int:number>/attachments/<int:pk>/",
        ticket_views.attachment_download,
        name="attachment",
    ),
]
