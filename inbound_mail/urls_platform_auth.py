"""Sign-in on the platform host, which has no other: platform staff only."""

from django.contrib.auth import views as auth_views
from django.urls import path

from inbound_mail.forms import StaffAuthenticationForm

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            authentication_form=StaffAuthenticationForm,
            template_name="inbound_mail/platform_login.html",
            next_page="inbound_mail_platform:unclaimed",
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
]
