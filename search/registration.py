"""What search registers with the apps below it, once from SearchConfig.ready(): the list's
`q` (tickets.contributions.register_text_search), Settings -> Search (tenants.settings_nav),
and its task's name (importing search.tasks); and, after every `migrate`, search's database
objects again (search.engine.ddl)."""


def connect() -> None:
    from search import selectors, tasks  # noqa: F401  # tasks: registers search.reindex
    from tenants import settings_nav
    from tickets import contributions

    contributions.register_text_search(selectors.ticket_match_q)
    settings_nav.register(
        "Search",
        "search_settings:index",
        order=55,
        description="The language tickets are searched in: word forms, or words as written.",
    )


def ensure_index_objects(*, using: str = "default", **kwargs) -> None:
    """post_migrate: search's database objects again (search.engine.ddl.ensure)."""
    from search.engine import ddl

    ddl.ensure(using)
