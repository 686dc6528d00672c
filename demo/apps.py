"""The demo app: `manage.py seed_demo`, which seeds every app."""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for the embedded default (`manage.py seed_demo`). It seeds every app, so it sits
    above them all; production can leave it out of INSTALLED_APPS."""

    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"
