from django.core.management import call_command

from inbound_mail.models import InboundAddress
from tenants.models import Membership, Organization
from tenants.scoping import tenant_scope
from tickets.models import Ticket


def test_seed_demo_is_idempotent_and_logins_work(db):
    call_command("seed_demo", tickets=20, verbosity=0)
    call_command("seed_demo", tickets=20, verbosity=0)
    acme = Organization.objects.get(slug="acme")
    globex = Organization.objects.get(slug="globex")
    with tenant_scope(acme):
        assert Ticket.objects.count() == 20
        roles = dict(Membership.objects.values_list("user__email", "role"))
        assert roles["agent@acme.test"] == "agent"
        assert roles["admin@acme.test"] == "admin"
        assert list(InboundAddress.objects.values_list("address", flat=True)) == [
            "support@acme.localhost"
        ]
    with tenant_scope(globex):
        assert Ticket.objects.count() == 10
    from django.test import Client

    client = Client(HTTP_HOST="acme.localhost")
    response = client.post("/login/", {"username": "agent@acme.test", "password": "demo"})
    assert response["Location"] == "/agent/"
