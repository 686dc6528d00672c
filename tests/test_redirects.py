"""Every view that follows a `next` from the request stays on our host (no open redirect).

The views are found by reading the source: a module that reads `next` from input, or routes to
Django's LoginView/LogoutView (which read it themselves), must be listed in READERS, and every
reader below is walked with hostile and good targets."""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import Client

from tenants.models import User
from tests.factories import make_ticket

ROOT = Path(__file__).resolve().parent.parent
APPS = (
    "config",
    "tenants",
    "tickets",
    "inbound_mail",
    "outbound_mail",
    "sla",
    "automations",
    "demo",
    "portal",
)
HOSTILE = [
    "https://evil.example/x",
    "//evil.example",
    "/\\evil.example",
    "javascript:alert(1)",
    "http://acme.localhost.evil.example/",
    " //evil.example",
]
# A read of `next` from input, or a Django auth view that reads it.
_READS_NEXT_RE = re.compile(
    r"""(?:GET|POST|REQUEST|params|data)(?:\.get\(|\[)\s*["']next["']|safe_next\(|LoginView|LogoutView"""
)
_READS_NEXT_IN_TEMPLATE_RE = re.compile(r"""name=["']next["']""")
READERS = {
    "tickets/views.py",  # ticket_bulk
    "config/urls.py",  # the tenant's login and logout
    "inbound_mail/urls_platform_auth.py",  # the platform's login and logout
    "tenants/redirects.py",  # safe_next itself
    "tenants/away_views.py",  # the away switch (walked in tests/automations/test_away.py)
    "automations/macro_views.py",  # a macro applied to the list's selection
    "portal/auth_views.py",  # the portal's sign-in (walked in tests/portal/test_auth.py)
}
TEMPLATES_SENDING_NEXT = {
    "templates/registration/login.html",
    "templates/inbound_mail/platform_login.html",
    "templates/tickets/list.html",  # the bulk form
    "templates/agent_base.html",  # the away switch in the user menu
    "templates/portal/sign_in_form.html",  # the portal's sign-in by link
    "templates/portal/sign_in_password.html",  # and by password
}


def _sources(pattern: str):
    for app in APPS:
        for path in (ROOT / app).rglob(pattern):
            if "migrations" not in path.parts:
                yield path


def test_every_reader_of_next_is_walked_here():
    readers = {
        str(p.relative_to(ROOT)) for p in _sources("*.py") if _READS_NEXT_RE.search(p.read_text())
    }
    templates = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "templates").rglob("*.html")
        if _READS_NEXT_IN_TEMPLATE_RE.search(p.read_text())
    }
    assert (readers, templates) == (READERS, TEMPLATES_SENDING_NEXT)


def _on_our_host(location: str, host: str) -> bool:
    parts = urlsplit(location)
    return (
        parts.scheme in ("", "http")
        and parts.netloc in ("", host)
        and location.startswith(("/", f"http://{host}/"))
        and not location.startswith(("//", "/\\"))
        and "\\" not in location
    )


@pytest.fixture
def staff(db):
    return User.objects.create_user(email="ops@platform.test", password="pw", is_staff=True)


@pytest.mark.parametrize("target", HOSTILE)
def test_bulk_invalid_form_ignores_foreign_next(acme, target):
    response = acme.client(acme.agent).post("/agent/tickets/bulk/", {"tickets": "", "next": target})
    assert (response.status_code, response["Location"]) == (302, "/agent/")


@pytest.mark.parametrize("target", HOSTILE)
def test_bulk_ignores_foreign_next(acme, target):
    with acme.scope():
        ticket = make_ticket(acme.org)
    response = acme.client(acme.agent).post(
        "/agent/tickets/bulk/", {"tickets": str(ticket.number), "next": target}
    )
    assert (response.status_code, response["Location"]) == (302, "/agent/")


@pytest.mark.parametrize("invalid", [True, False])
def test_bulk_follows_a_next_on_our_host(acme, invalid):
    with acme.scope():
        ticket = make_ticket(acme.org)
    numbers = "" if invalid else str(ticket.number)
    response = acme.client(acme.agent).post(
        "/agent/tickets/bulk/", {"tickets": numbers, "next": "/agent/?view=all&status=1"}
    )
    assert response["Location"] == "/agent/?view=all&status=1"


@pytest.mark.parametrize("target", HOSTILE)
def test_macro_on_the_selection_ignores_foreign_next(acme, target):
    from automations.models import Macro

    with acme.scope():
        ticket = make_ticket(acme.org)
        macro = Macro.objects.create(
            organization=acme.org, name="Tag", actions=[{"type": "add_tags", "names": ["x"]}]
        )
    form = {"macro": str(macro.pk), "tickets": str(ticket.number), "next": target}
    response = acme.client(acme.agent).post("/agent/tickets/bulk/macro/", form)
    assert (response.status_code, response["Location"]) == (302, "/agent/")
    with acme.scope():
        assert list(ticket.tags.values_list("name", flat=True)) == ["x"]


@pytest.mark.parametrize("target", HOSTILE)
def test_tenant_login_ignores_foreign_next(acme, target):
    client = Client(HTTP_HOST="acme.localhost")
    credentials = {"username": "agent@acme.test", "password": "pw"}
    response = client.post(f"/login/?next={target}", {**credentials, "next": target})
    assert response["Location"] == "/agent/"
    assert _on_our_host(response["Location"], "acme.localhost")


def test_tenant_login_follows_a_next_on_our_host(acme):
    client = Client(HTTP_HOST="acme.localhost")
    credentials = {"username": "agent@acme.test", "password": "pw", "next": "/agent/?view=all"}
    assert client.post("/login/", credentials)["Location"] == "/agent/?view=all"


@pytest.mark.parametrize("target", HOSTILE)
def test_tenant_logout_ignores_foreign_next(acme, target):
    response = acme.client(acme.agent).post("/logout/", {"next": target})
    assert response["Location"] == "/login/"


def test_tenant_logout_follows_a_next_on_our_host(acme):
    response = acme.client(acme.agent).post("/logout/", {"next": "/password-reset/"})
    assert response["Location"] == "/password-reset/"


@pytest.mark.parametrize("target", HOSTILE)
def test_platform_login_and_logout_ignore_foreign_next(staff, target):
    client = Client(HTTP_HOST="localhost")
    credentials = {"username": "ops@platform.test", "password": "pw", "next": target}
    assert client.post("/login/", credentials)["Location"] == "/platform/quarantine/"
    assert client.post("/logout/", {"next": target})["Location"] == "/login/"


def test_platform_login_follows_a_next_on_our_host(staff):
    client = Client(HTTP_HOST="localhost")
    credentials = {
        "username": "ops@platform.test",
        "password": "pw",
        "next": "/platform/quarantine/?status=failed",
    }
    assert client.post("/login/", credentials)["Location"] == "/platform/quarantine/?status=failed"


@pytest.mark.parametrize("target", HOSTILE)
def test_safe_next_over_https_refuses_a_plain_http_target(rf, target):
    from tenants.redirects import safe_next

    request = rf.post("/", {"next": target}, HTTP_HOST="acme.localhost", secure=True)
    assert safe_next(request, "/fallback/") == "/fallback/"
    request = rf.post(
        "/", {"next": "http://acme.localhost/agent/"}, HTTP_HOST="acme.localhost", secure=True
    )
    assert safe_next(request, "/fallback/") == "/fallback/"
    request = rf.get("/", {"next": "/agent/"}, HTTP_HOST="acme.localhost", secure=True)
    assert safe_next(request, "/fallback/") == "/agent/"
