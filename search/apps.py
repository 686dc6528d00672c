"""Search's start-up: the ticket list's text filter and the top bar's results come from here."""

from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"
    default_auto_field = "django.db.models.BigAutoField"
