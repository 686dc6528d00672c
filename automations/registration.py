"""Everything automations adds to the apps below it, in one place (called from ready()): the
domain events its rules run on, the settings navigation, the ticket page's contributions and
the deletion guards of teams, statuses and agents that rules name."""


def connect() -> None:
    from automations import contributions as macro_contributions
    from automations import guards, settings_nav, subscribers
    from automations import tasks as _tasks  # noqa: F401  # the task names the time scan queues

    settings_nav.register()  # Settings -> Automations
    guards.register()  # teams, statuses, priorities and agents that rules name stay
    macro_contributions.register()  # Settings -> Macros, Apply macro on tickets and the list
    subscribers.connect()  # the domain events rules run on, each queued for automations.tasks
