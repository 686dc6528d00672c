import re

import pytest
from django.core import mail

from tenants.models import Membership, Team, TeamMember
from tests.factories import make_ticket
from tickets.models import CannedResponse, Priority, Status, Ticket

PAGES = ["statuses", "priorities", "canned", "members", "teams"]


@pytest.fixture
def admin_client(acme):
    return acme.client(acme.admin)


@pytest.mark.parametrize("page", PAGES)
def test_settings_pages_are_for_admins_only(acme, page):
    assert acme.client(acme.admin).get(f"/settings/{page}/").status_code == 200
    assert acme.client(acme.agent).get(f"/settings/{page}/").status_code == 404
    assert acme.client().get(f"/settings/{page}/").status_code == 302


@pytest.mark.parametrize("page", PAGES)
def test_admin_of_another_tenant_gets_404(acme, globex, page):
    assert acme.client(globex.admin).get(f"/settings/{page}/").status_code == 404


def test_other_tenants_rows_are_404(acme, globex, admin_client):
    with globex.scope():
        status = Status.objects.first()
        priority = Priority.objects.first()
        canned = CannedResponse.objects.create(organization=globex.org, name="G", body="g")
        team = Team.objects.get()
        membership = Membership.objects.get(user=globex.agent)
    urls = [
        f"/settings/statuses/?edit={status.pk}",
        f"/settings/priorities/?edit={priority.pk}",
        f"/settings/canned/?edit={canned.pk}",
        f"/settings/teams/?edit={team.pk}",
    ]
    assert [admin_client.get(u).status_code for u in urls] == [404] * 4
    posts = [
        f"/settings/statuses/{status.pk}/delete/",
        f"/settings/statuses/{status.pk}/move/",
        f"/settings/priorities/{priority.pk}/delete/",
        f"/settings/canned/{canned.pk}/delete/",
        f"/settings/teams/{team.pk}/delete/",
        f"/settings/members/{membership.pk}/remove/",
        f"/settings/members/{membership.pk}/role/",
    ]
    assert [admin_client.post(u, {"role": "admin"}).status_code for u in posts] == [404] * 7
    with globex.scope():
        assert Status.objects.filter(pk=status.pk).exists()
        assert Membership.objects.get(pk=membership.pk).role == "agent"


def test_add_status_and_reorder(acme, admin_client):
    response = admin_client.post(
        "/settings/statuses/",
        {"name": "Waiting on vendor", "category": "pending", "pauses_sla": "on"},
    )
    assert response.status_code == 302
    with acme.scope():
        names = list(Status.objects.values_list("name", flat=True))
        new = Status.objects.get(name="Waiting on vendor")
    assert names[-1] == "Waiting on vendor"
    assert (new.category, new.pauses_sla) == ("pending", True)
    admin_client.post(f"/settings/statuses/{new.pk}/move/", {"direction": "up"})
    with acme.scope():
        assert list(Status.objects.values_list("name", flat=True))[-2:] == [
            "Waiting on vendor",
            "Closed",
        ]


def test_status_category_change_follows_to_tickets(acme, admin_client):
    with acme.scope():
        ticket = make_ticket(acme.org)
        status = ticket.status
    admin_client.post(
        "/settings/statuses/", {"id": status.pk, "name": "Triage", "category": "open"}
    )
    with acme.scope():
        ticket = Ticket.objects.get(pk=ticket.pk)
    assert (ticket.status.name, ticket.status_category) == ("Triage", "open")


def test_last_status_of_its_category_cannot_be_deleted(acme, admin_client):
    # In use or not: its tickets could move only within the category (test_settings_confirm).
    with acme.scope():
        ticket = make_ticket(acme.org)
    response = admin_client.post(
        f"/settings/statuses/{ticket.status_id}/delete/", {"confirm": "1"}, follow=True
    )
    assert "“New” is the last new status; keep at least one." in response.content.decode()
    with acme.scope():
        assert Status.objects.filter(pk=ticket.status_id).exists()


def test_status_bad_input(admin_client):
    response = admin_client.post("/settings/statuses/", {"name": "Open", "category": "bogus"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "A status with this name exists already." in html
    assert "Select a valid choice. bogus is not one of the available choices." in html


def test_priority_colour_is_validated(admin_client):
    response = admin_client.post(
        "/settings/priorities/", {"name": "P0", "rank": 99, "color": "red;}body{x"}
    )
    assert response.status_code == 400
    assert "Use a colour like #2563eb." in response.content.decode()


def test_default_priority_is_unique(acme, admin_client):
    admin_client.post(
        "/settings/priorities/",
        {"name": "Blocker", "rank": 50, "color": "#000000", "is_default": "on"},
    )
    with acme.scope():
        defaults = list(Priority.objects.filter(is_default=True).values_list("name", flat=True))
    assert defaults == ["Blocker"]


def test_canned_crud(acme, admin_client):
    admin_client.post("/settings/canned/", {"name": "Hello", "body": "Hi {{ requester_name }}"})
    with acme.scope():
        canned = CannedResponse.objects.get()
    admin_client.post("/settings/canned/", {"id": canned.pk, "name": "Hello", "body": "Changed"})
    with acme.scope():
        assert CannedResponse.objects.get().body == "Changed"
    admin_client.post(f"/settings/canned/{canned.pk}/delete/", {"confirm": "1"})
    with acme.scope():
        assert CannedResponse.objects.count() == 0


def test_invite_member_sends_set_password_link(acme, globex, admin_client):
    response = admin_client.post(
        "/settings/members/", {"email": "New@Acme.test", "name": "Nina", "role": "agent"}
    )
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["new@acme.test"]]
    link = re.search(r"http://acme\.localhost:8000(/password-reset/\S+/)", mail.outbox[0].body)[1]
    response = acme.client().get(link, follow=True)
    assert "Choose a new password" in response.content.decode()
    with acme.scope():
        assert Membership.objects.get(user__email="new@acme.test").role == "agent"
    with globex.scope():
        assert not Membership.objects.filter(user__email="new@acme.test").exists()


def test_invite_existing_member_is_refused(admin_client):
    response = admin_client.post(
        "/settings/members/", {"email": "agent@acme.test", "role": "agent"}
    )
    assert "This person is already a member." in response.content.decode()


def test_last_admin_cannot_leave_or_be_demoted(acme, admin_client):
    with acme.scope():
        admin = Membership.objects.get(user=acme.admin)
    response = admin_client.post(
        f"/settings/members/{admin.pk}/role/", {"role": "agent"}, follow=True
    )
    assert "This is the only admin: make someone else admin first." in response.content.decode()
    admin_client.post(f"/settings/members/{admin.pk}/remove/", {"confirm": "1"})
    with acme.scope():
        assert Membership.objects.get(pk=admin.pk).role == "admin"


def test_team_members_and_managers(acme, admin_client):
    response = admin_client.post(
        "/settings/teams/",
        {"name": "Billing", "members": [acme.agent.pk, acme.admin.pk], "managers": [acme.admin.pk]},
    )
    assert response.status_code == 302
    with acme.scope():
        links = set(
            TeamMember.objects.filter(team__name="Billing").values_list("user__email", "is_manager")
        )
    assert links == {("agent@acme.test", False), ("admin@acme.test", True)}


def test_team_manager_must_be_member(acme, admin_client):
    response = admin_client.post(
        "/settings/teams/", {"name": "Ops", "members": [acme.agent.pk], "managers": [acme.admin.pk]}
    )
    assert "Managers must also be members of the team." in response.content.decode()


def test_settings_pages_show_the_rail_with_counts(acme, admin_client):
    with acme.scope():
        make_ticket(acme.org)
    html = admin_client.get("/settings/statuses/").content.decode()
    assert re.search(r'All open <span class="count">(\d+)</span>', html).group(1) == "1"
