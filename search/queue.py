"""Queueing search's task by the name it is registered under, so that services need not import
tasks.py (SearchConfig.ready imports it; under `task_always_eager`, the tests, `.delay` runs in
process)."""

from celery import current_app
from django.db import transaction

REINDEX = "search.reindex"


def reindex_after_commit(organization_id: int) -> None:
    """Rebuild the tenant's documents once its language change has committed."""

    def send() -> None:
        current_app.tasks[REINDEX].delay(organization_id=organization_id)

    # robust: the setting is committed either way; a lost task leaves the old language's
    # documents until the next rebuild (the results still come, stemmed the old way).
    transaction.on_commit(send, robust=True)
