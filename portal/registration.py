"""What the portal registers with the apps below it, called once from PortalConfig.ready():
the Settings -> Portal pages (portal.settings_nav) and the ticket page's and list's
contributions (portal.contributions)."""


def connect() -> None:
    from portal import contributions, settings_nav

    settings_nav.register()
    contributions.register()
