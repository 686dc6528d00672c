"""The public contact form's pages (names `portal:contact…`): the form in the portal's frame,
the embeddable one without it, and their thank-you pages."""

from django.urls import path

from portal import contact_views

urlpatterns = [
    path("contact/", contact_views.contact, name="contact"),
    path("contact/thanks/", contact_views.contact_thanks, name="contact_thanks"),
    path("contact/embed/", contact_views.contact_embed, name="contact_embed"),
    path("contact/embed/thanks/", contact_views.contact_embed_thanks, name="contact_embed_thanks"),
]
