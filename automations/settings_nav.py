"""Automations' pages in the settings navigation (tenants.settings_nav): the rules, after the
SLA pages in the Tickets group."""

from tenants import settings_nav

SETTINGS_PAGES = [
    (
        "Automations",
        "automations:rules",
        "Rules that triage, route, escalate and notify on ticket events and on time.",
    ),
]


def register() -> None:
    for order, (label, url_name, description) in enumerate(SETTINGS_PAGES, start=59):
        settings_nav.register(label, url_name, order=order, description=description)
