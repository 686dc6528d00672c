"""What a production SECRET_KEY must be: not the development key this repository ships, and
long and varied enough (Django's own rule). It signs sessions, password-reset links, invitation
and reply tokens, and derives the field-encryption key (tenants.crypto), so a known key lets
anyone forge them. The settings refuse to load on a bad key with DEBUG off; a deploy check
(tenants.checks, helpdesk.E001) reports it too.

Imports nothing from Django: the settings module uses it before Django is configured."""

# The key `make run` and a checkout without configuration use; public, so never for production.
DEVELOPMENT_SECRET_KEY = "embedded-default-insecure-key-change-me-in-production"  # noqa: S105  (public by design; refused in production)
# Django's rule (django.core.checks.security.base, W009).
MIN_LENGTH = 50
MIN_UNIQUE_CHARACTERS = 5
ADVICE = (
    "Set SECRET_KEY to a random string of 50 or more characters, e.g. the output of "
    "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`; "
    "for development only, set DEBUG=1 instead."
)


def secret_key_problem(key: str) -> str | None:
    """Why this key must not run in production, or None when it may."""
    if not key:
        return f"SECRET_KEY is not set. {ADVICE}"
    if key == DEVELOPMENT_SECRET_KEY or key.startswith("django-insecure-"):
        return f"SECRET_KEY is the public development key. {ADVICE}"
    if len(key) < MIN_LENGTH or len(set(key)) < MIN_UNIQUE_CHARACTERS:
        return (
            f"SECRET_KEY is too weak: it needs at least {MIN_LENGTH} characters, "
            f"{MIN_UNIQUE_CHARACTERS} of them different. {ADVICE}"
        )
    return None
