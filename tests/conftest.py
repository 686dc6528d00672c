"""Two tenants with several roles in every test that needs people; real services under CI."""

from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.test import Client

from config.celery import app as celery_app
from tenants import services as tenant_services
from tenants.models import Membership, Organization, Team, User
from tenants.scoping import tenant_scope
from tickets.selectors import forget_compiled_counts

pytest_plugins = ["tests.peers.smtp", "tests.peers.imap", "tests.peers.s3", "tests.browser"]


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Tasks run in-process when enqueued (after commit); tests see their effects directly.
    celery_app.conf.task_always_eager = True
    cache.clear()
    forget_compiled_counts()  # per process, and ids come back on SQLite
    yield
    cache.clear()
    forget_compiled_counts()


@dataclass
class Tenant:
    org: Organization
    admin: User
    agent: User
    team: Team

    def scope(self):
        return tenant_scope(self.org)

    def client(self, user: User | None = None) -> Client:
        client = Client(HTTP_HOST=f"{self.org.slug}.localhost")
        if user is not None:
            client.force_login(user)
        return client


def _tenant(slug: str) -> Tenant:
    org = tenant_services.organization_create(slug=slug, name=slug.title())
    with tenant_scope(org):
        admin = tenant_services.user_get_or_create(email=f"admin@{slug}.test", password="pw")
        agent = tenant_services.user_get_or_create(
            email=f"agent@{slug}.test", name=f"{slug.title()} Agent", password="pw"
        )
        tenant_services.membership_add(organization=org, user=admin, role=Membership.ADMIN)
        tenant_services.membership_add(organization=org, user=agent, role=Membership.AGENT)
        team = tenant_services.team_create(organization=org, name="Support", members=[agent])
    return Tenant(org=org, admin=admin, agent=agent, team=team)


@pytest.fixture
def acme(db) -> Tenant:
    return _tenant("acme")


@pytest.fixture
def globex(db) -> Tenant:
    return _tenant("globex")


@pytest.fixture
def in_acme(acme):
    with acme.scope():
        yield acme
