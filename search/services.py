"""Search's state changes: rebuilding the documents (after a language change, or for the
benchmark's bulk load) and the tenant's language setting. Everything else the triggers of
search's migrations keep current, in the same transaction as the change that needs it."""

from django.db import transaction

from search import configs, queue
from search.engine import engine
from search.models import SearchSettings
from tenants.models import Organization


def index_rebuild(*, organization_id: int | None = None) -> int:
    """Every search document of one tenant (or of all when None) again, set-based; returns
    how many there are. Safe to run any time: the triggers keep writing meanwhile."""
    return engine().rebuild(organization_id=organization_id)


@transaction.atomic
def search_settings_update(*, organization: Organization, language: str) -> SearchSettings:
    """Set the tenant's language; a change re-indexes the tenant after commit."""
    found = SearchSettings.objects.select_for_update().first()
    if found is None:
        found = SearchSettings(organization=organization, language=language)
        found.save()
        changed = language != SearchSettings._meta.get_field("language").default
    else:
        changed = found.language != language
        if changed:
            found.language = language
            found.save(update_fields=["language", "updated_at"])
    if changed:
        transaction.on_commit(lambda: configs.forget(organization.pk))
        queue.reindex_after_commit(organization.pk)
    return found
