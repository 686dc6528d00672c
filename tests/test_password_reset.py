"""Password-reset links: built from the tenant's configured host, valid only on that host."""

import re

import pytest
from django.core import mail

from tenants import services as tenant_services

pytestmark = pytest.mark.django_db

LINK = re.compile(r"(https?://[^/\s]+)(/password-reset/[^/\s]+/[^/\s]+/)")


def _request_reset(client, email, **extra):
    response = client.post("/password-reset/", {"email": email}, **extra)
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    return LINK.search(mail.outbox[-1].body).groups()


def test_reset_link_uses_the_tenants_host_not_a_forged_one(acme):
    origin, _ = _request_reset(acme.client(), "agent@acme.test", HTTP_HOST="acme.localhost:6666")
    assert origin == "http://acme.localhost:8000"


def test_reset_link_follows_public_scheme_and_port(acme, settings):
    settings.PUBLIC_SCHEME = "https"
    settings.PUBLIC_PORT = "443"
    origin, _ = _request_reset(acme.client(), "agent@acme.test")
    assert origin == "https://acme.localhost"


def test_reset_link_works_on_its_own_tenant(acme):
    _, path = _request_reset(acme.client(), "agent@acme.test")
    client = acme.client()
    response = client.get(path, follow=True)
    assert "Choose a new password" in response.content.decode()
    response = client.post(
        response.redirect_chain[-1][0],
        {"new_password1": "n3w-Passw0rd!", "new_password2": "n3w-Passw0rd!"},
    )
    assert response.status_code == 302
    acme.agent.refresh_from_db()
    assert acme.agent.check_password("n3w-Passw0rd!") is True


def test_acme_reset_link_is_invalid_on_globex(acme, globex):
    # The person belongs to both tenants: only the token's binding can tell the hosts apart.
    with globex.scope():
        tenant_services.membership_add(organization=globex.org, user=acme.agent, role="agent")
    _, path = _request_reset(acme.client(), "agent@acme.test")
    client = globex.client()
    response = client.get(path, follow=True)
    page = response.content.decode()
    assert "This link has expired or was already used." in page
    assert "Choose a new password" in page  # the heading; no form
    assert 'name="new_password1"' not in page
    response = client.post(
        path.replace(path.rstrip("/").rsplit("/", 1)[1], "set-password"),
        {"new_password1": "n3w-Passw0rd!", "new_password2": "n3w-Passw0rd!"},
    )
    acme.agent.refresh_from_db()
    assert acme.agent.check_password("pw") is True
