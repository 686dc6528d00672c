"""Search's data: each tenant's language setting and, on PostgreSQL, the documents the triggers
of search's migrations keep (one per ticket and one per comment). On SQLite the documents are
FTS5 virtual tables the migrations create (search.engine.sqlite), not models."""

from django.contrib.postgres.search import SearchVectorField
from django.db import models

from tenants.models import Organization, TenantModel


class Language(models.TextChoices):
    """PostgreSQL text search configurations (search's migration makes `helpdesk_<value>`:
    the language's dictionary after unaccent). On SQLite, English stems (FTS5's porter) and
    every other choice matches words as written."""

    SIMPLE = "simple", "None: match words as written (names, codes, any language)"
    ENGLISH = "english", "English"
    GERMAN = "german", "German"
    FRENCH = "french", "French"
    SPANISH = "spanish", "Spanish"
    ITALIAN = "italian", "Italian"
    DUTCH = "dutch", "Dutch"
    PORTUGUESE = "portuguese", "Portuguese"


class SearchSettings(TenantModel):
    """One per tenant, made on first save; no row means the defaults."""

    language = models.CharField(max_length=20, choices=Language.choices, default=Language.SIMPLE)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "search settings"
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="searchsettings_one_per_tenant")
        ]

    @property
    def config(self) -> str:
        return f"helpdesk_{self.language}"


class SearchDocument(TenantModel):
    """What a ticket (comment_id 0: subject, requester, customer, intake answers, attachments
    without a comment) or one comment (its text and attachments' names, with the ticket's
    subject and people, so "carol invoice" finds Carol's mention of an invoice) is found by.
    Written only by the database triggers (search.migrations); read by search.engine.postgres.
    The ids are plain columns, not foreign keys: the triggers keep them, also under COPY."""

    # No btree index on the organization alone: every read goes through the GIN index that
    # leads with it (btree_gin: organization_id, vector), made in the migration, and a plain
    # index on it would tempt the planner to walk a whole tenant for a word it thinks common.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    ticket_id = models.BigIntegerField()
    comment_id = models.BigIntegerField(default=0)
    is_public = models.BooleanField(default=True)
    vector = SearchVectorField()

    class Meta:
        db_table = "search_document"
        constraints = [
            # One document per ticket and per comment; the triggers upsert on it and find a
            # ticket's documents by it, and a common word's ranking window reads its range.
            models.UniqueConstraint(
                fields=["organization", "ticket_id", "comment_id"], name="searchdoc_unique"
            )
        ]
