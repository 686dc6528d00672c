import pytest
from django.apps import apps
from django.db import models
from django.test.utils import isolate_apps
from django_scopes import ScopeError, scopes_disabled

from tenants.checks import _is_scoped, tenant_models_are_scoped, unscoped_tenant_models
from tenants.hosts import organization_for_host
from tenants.models import Domain, Organization
from tenants.scoping import TenantMismatch, tenant_scope
from tests.factories import make_ticket
from tickets.models import Contact, Ticket


def test_every_tenant_model_has_a_scoped_manager():
    tenant_models = [
        m
        for m in apps.get_models()
        if "organization" in {f.name for f in m._meta.get_fields()} and m is not Domain
    ]
    assert len(tenant_models) >= 12
    assert [m._meta.label for m in tenant_models if not _is_scoped(m)] == []
    assert tenant_models_are_scoped() == []


@isolate_apps("tickets")
def test_system_check_flags_a_model_without_scoped_manager():
    class Leaky(models.Model):
        organization = models.ForeignKey(Organization, on_delete=models.CASCADE)

        class Meta:
            app_label = "tickets"

    errors = unscoped_tenant_models([Leaky, Ticket])
    assert [(e.id, e.obj) for e in errors] == [("tenants.E001", Leaky)]


def test_query_without_tenant_refuses_to_run(acme):
    with acme.scope():
        make_ticket(acme.org)
    with pytest.raises(ScopeError):
        list(Ticket.objects.all())
    with pytest.raises(ScopeError):
        Ticket.objects.filter(number=1).first()


def test_scope_never_entered_with_none():
    with pytest.raises(ValueError, match="never None"), tenant_scope(None):
        pass


def test_each_tenant_sees_only_its_rows(acme, globex):
    with acme.scope():
        make_ticket(acme.org, subject="acme only")
    with globex.scope():
        make_ticket(globex.org, subject="globex only")
        assert [t.subject for t in Ticket.objects.all()] == ["globex only"]
    with acme.scope():
        assert [t.subject for t in Ticket.objects.all()] == ["acme only"]


def test_write_into_another_tenant_fails(acme, globex):
    with acme.scope():
        contact = Contact(organization=globex.org, email="x@y.test")
        with pytest.raises(TenantMismatch):
            contact.save()
        ticket = make_ticket(acme.org)
    with globex.scope():
        ticket.subject = "hijacked"
        with pytest.raises(TenantMismatch):
            ticket.save(update_fields=["subject"])
    with scopes_disabled():
        assert Ticket.objects.get(pk=ticket.pk).subject == "Printer on fire"


def test_ticket_numbers_are_per_tenant(acme, globex):
    with acme.scope():
        numbers_a = [make_ticket(acme.org).number for _ in range(3)]
    with globex.scope():
        numbers_g = [make_ticket(globex.org).number for _ in range(2)]
    assert (numbers_a, numbers_g) == ([1, 2, 3], [1, 2])


def test_host_resolution(acme, globex):
    assert organization_for_host("acme.localhost:8000") == acme.org
    assert organization_for_host("GLOBEX.localhost") == globex.org
    assert organization_for_host("evil.acme.localhost") is None
    assert organization_for_host("nobody.localhost") is None
    Domain.objects.create(organization=acme.org, host="help.acme.example", verified=False)
    assert organization_for_host("help.acme.example") is None
    Domain.objects.filter(host="help.acme.example").update(verified=True)
    assert organization_for_host("help.acme.example:443") == acme.org


def test_unknown_host_is_404(acme):
    response = acme.client().get("/login/", HTTP_HOST="nobody.localhost")
    assert response.status_code == 404


def test_member_of_another_tenant_gets_404(acme, globex):
    client = acme.client(globex.agent)
    assert client.get("/agent/").status_code == 404


def test_login_refuses_a_user_of_another_tenant(acme, globex):
    response = acme.client().post("/login/", {"username": "agent@globex.test", "password": "pw"})
    assert response.status_code == 200
    assert "correct email and password" in response.content.decode().replace("\n", " ") or (
        response.context["form"].errors
    )
    assert "_auth_user_id" not in response.client.session


def test_login_accepts_a_member(acme):
    response = acme.client().post("/login/", {"username": "agent@acme.test", "password": "pw"})
    assert response.status_code == 302
    assert response["Location"] == "/agent/"
