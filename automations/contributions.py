"""What macros add to the pages of the apps below automations (registered from
automations.registration.connect()): Settings -> Macros in the settings navigation, and through
tickets.contributions the "Apply macro" control under the ticket page's reply box and the
"Macro" choice in the ticket list's bulk bar."""

from tenants import settings_nav
from tickets import contributions

SETTINGS_ORDER = 52  # beside Canned responses (50) in the Tickets group


def register() -> None:
    settings_nav.register(
        "Macros",
        "macros:shared",
        order=SETTINGS_ORDER,
        description="One-click sets of changes and a reply, shared by every agent.",
    )
    contributions.register(
        contributions.Contribution(
            name="automations.macros",
            reply_toolbar_templates=("automations/macros/_apply.html",),
            bulk_action_templates=("automations/macros/_bulk.html",),
        )
    )
