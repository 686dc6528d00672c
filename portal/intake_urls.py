"""A new ticket from the portal (`portal:` names): choose a form, then fill it in."""

from django.urls import path

from portal import intake_views

urlpatterns = [
    path("new/", intake_views.new_ticket, name="new_ticket"),
    path("new/<int:form_id>/", intake_views.new_ticket_form, name="new_ticket_form"),
]
