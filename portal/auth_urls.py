"""Signing in to the portal (a link by mail, or a password), signing out, the contact's profile,
and an agent's preview of the portal as one contact (portal.auth_views)."""

from django.urls import path

from portal import auth_views

urlpatterns = [
    path("sign-in/", auth_views.sign_in, name="sign_in"),
    path("sign-in/sent/", auth_views.sign_in_sent, name="sign_in_sent"),
    path("sign-in/link/<str:token>/", auth_views.sign_in_link, name="sign_in_link"),
    path("sign-in/password/", auth_views.sign_in_password, name="sign_in_password"),
    path("sign-out/", auth_views.sign_out, name="sign_out"),
    path("profile/", auth_views.profile, name="profile"),
    path("portal/preview/stop/", auth_views.preview_stop, name="preview_stop"),
    path("portal/preview/<int:contact_id>/", auth_views.preview_start, name="preview_start"),
]
