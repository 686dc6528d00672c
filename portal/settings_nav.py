"""The portal's pages in the settings navigation (tenants.settings_nav), last in the Tickets group
(after Automations, by label): Settings -> Portal (portal.settings_views) and the intake forms
(portal_forms, the intake helper's pages)."""

from tenants import settings_nav

SETTINGS_PAGES = [
    (
        "Portal",
        "portal_settings:index",
        "The customer portal and the public contact form: on or off, texts, status labels, "
        "and who sees all tickets of their company.",
    ),
    (
        "Portal forms",
        "portal_forms:list",
        "The intake forms customers open tickets with: their fields, team and priority.",
    ),
]


def register() -> None:
    # Automations' order: pages of one order sort by label ("Automations", "Portal", ...).
    for label, url_name, description in SETTINGS_PAGES:
        settings_nav.register(label, url_name, order=59, description=description)
