"""Each tenant's text search configuration (`helpdesk_<language>`), remembered in the default
cache so that the ticket list, the rail's saved views and the portal put it in their
statements as a constant.

With a constant configuration `to_tsquery(regconfig, text)` is immutable and PostgreSQL makes
the tsquery once, when planning. Through `search_config(org)` (stable: it reads the settings
table) the query would be parsed and stemmed again for every document a nested loop checks,
three to four times the cost of the check itself (a saved view "open tickets with refund": 4,800
tickets probed, 0.067 ms each against 0.019 ms).

A change of language forgets the tenant's entry after commit; entries expire after CONFIG_TTL
seconds in case another process's local memory still holds one (the embedded default has no
shared cache). A change re-indexes the tenant anyway, and until that is done documents of both
languages are mixed, so a configuration a minute old adds no new kind of miss.
"""

from django.core.cache import cache

from search.models import Language, SearchSettings
from tickets.selectors import forget_compiled_counts

CONFIG_TTL = 60


def _key(organization_id: int) -> str:
    return f"search-config:{organization_id}"


def tenant_config(organization_id: int) -> str:
    """The configuration the tenant's documents are made with (read in the tenant's scope)."""
    key = _key(organization_id)
    config = cache.get(key)
    if config is None:
        language = SearchSettings.objects.values_list("language", flat=True).first()
        config = SearchSettings(language=language or Language.SIMPLE).config
        cache.set(key, config, CONFIG_TTL)
    return config


def forget(organization_id: int) -> None:
    """After a change of language: the tenant's entry, and the rail's counts compiled with it
    in this process (the others' follow within CONFIG_TTL, as theirs expire as fast)."""
    cache.delete(_key(organization_id))
    forget_compiled_counts()
