"""Destructive settings actions ask first, and a status or priority in use moves its tickets to
a replacement (issue 10, broken item 10)."""

import re

import pytest

from inbound_mail.models import Mailbox
from tenants.models import Membership, Team
from tests.factories import make_ticket
from tickets.models import CannedResponse, Priority, Status, Ticket, TicketEvent


def _hidden(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)


def test_remove_member_without_confirm_asks_and_changes_nothing(acme):
    client = acme.client(acme.admin)
    with acme.scope():
        membership = Membership.objects.get(user=acme.agent)
    response = client.post(f"/settings/members/{membership.pk}/remove/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f"Remove {acme.agent.display_name} ({acme.agent.email})?" in html
    assert ("confirm", "1") in _hidden(html)
    assert f'action="/settings/members/{membership.pk}/remove/"' in html
    with acme.scope():
        assert Membership.objects.filter(pk=membership.pk).exists() is True

    response = client.post(f"/settings/members/{membership.pk}/remove/", {"confirm": "1"})
    assert response["Location"] == "/settings/members/"
    with acme.scope():
        assert Membership.objects.filter(pk=membership.pk).exists() is False


def test_canned_team_and_mailbox_delete_ask_first(acme):
    client = acme.client(acme.admin)
    with acme.scope():
        canned = CannedResponse.objects.create(organization=acme.org, name="Hi", body="Hello")
        mailbox = Mailbox.objects.create(
            organization=acme.org, name="Support", host="imap.example.com", username="u"
        )
    team = acme.team
    urls = {
        f"/settings/canned/{canned.pk}/delete/": "Delete the canned response “Hi”?",
        f"/settings/teams/{team.pk}/delete/": f"Delete the team “{team.name}”?",
        f"/settings/mail/mailboxes/{mailbox.pk}/delete/": "Remove the mailbox “Support”?",
    }
    asked = {url: client.post(url).content.decode() for url in urls}
    assert {url: question in asked[url] for url, question in urls.items()} == dict.fromkeys(
        urls, True
    )
    with acme.scope():
        assert (
            CannedResponse.objects.filter(pk=canned.pk).exists(),
            Team.objects.filter(pk=team.pk).exists(),
            Mailbox.objects.filter(pk=mailbox.pk).exists(),
        ) == (True, True, True)
    for url in urls:
        assert client.post(url, {"confirm": "1"}).status_code == 302
    with acme.scope():
        assert (
            CannedResponse.objects.filter(pk=canned.pk).exists(),
            Team.objects.filter(pk=team.pk).exists(),
            Mailbox.objects.filter(pk=mailbox.pk).exists(),
        ) == (False, False, False)


def test_list_pages_mark_delete_forms_for_the_browser_to_confirm(acme):
    client = acme.client(acme.admin)
    with acme.scope():
        CannedResponse.objects.create(organization=acme.org, name="Hi", body="Hello")
    html = client.get("/settings/canned/").content.decode()
    assert 'data-confirm="Delete the canned response “Hi”?"' in html
    members = client.get("/settings/members/").content.decode()
    assert members.count('data-confirm="Remove ') == 2


def test_delete_status_in_use_moves_its_tickets_to_the_replacement(acme):
    client = acme.client(acme.admin)
    with acme.scope():
        waiting = Status.objects.create(
            organization=acme.org, name="Waiting", category="pending", position=9
        )
        pending = Status.objects.get(category="pending", name="Pending")
        same_category = [
            (str(pk), name)
            for pk, name in Status.objects.filter(category="pending")
            .exclude(pk=waiting.pk)
            .order_by("position", "id")
            .values_list("pk", "name")
        ]
        tickets = [make_ticket(acme.org) for _ in range(2)]
        Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(
            status=waiting, status_category="pending"
        )
        other = Status.objects.filter(category="open").first()
    url = f"/settings/statuses/{waiting.pk}/delete/"
    asked = client.post(url, {"confirm": "1"})
    html = asked.content.decode()
    assert asked.status_code == 400
    assert "Pick the status its tickets move to." in html
    options = re.findall(r'<option value="(\d+)">([^<]+)</option>', html)
    assert options == same_category  # the same category only
    assert (str(pending.pk), "Pending") in options

    refused = client.post(url, {"confirm": "1", "replacement": str(other.pk)})
    assert refused.status_code == 400
    response = client.post(url, {"confirm": "1", "replacement": str(pending.pk)})
    assert response["Location"] == "/settings/statuses/"
    with acme.scope():
        assert Status.objects.filter(pk=waiting.pk).exists() is False
        assert [Ticket.objects.get(pk=t.pk).status_id for t in tickets] == [pending.pk] * 2
        events = list(
            TicketEvent.objects.filter(kind="status", ticket__in=tickets).values_list(
                "ticket_id", "actor_user_id", "data"
            )
        )
    reason = {"from": "Waiting", "to": "Pending", "reason": "“Waiting” was deleted"}
    assert sorted(events) == sorted((t.pk, acme.admin.pk, reason) for t in tickets)


def test_delete_priority_in_use_moves_its_tickets(acme):
    client = acme.client(acme.admin)
    with acme.scope():
        low, high = Priority.objects.order_by("rank")[:2]
        ticket = make_ticket(acme.org, priority=low)
    url = f"/settings/priorities/{low.pk}/delete/"
    page = client.post(url).content.decode()
    assert "Move its 1 ticket to" in page
    assert "1 ticket uses it; they move to the priority you pick." in page
    response = client.post(url, {"confirm": "1", "replacement": str(high.pk)})
    assert response["Location"] == "/settings/priorities/"
    with acme.scope():
        assert Ticket.objects.get(pk=ticket.pk).priority_id == high.pk
        assert Priority.objects.filter(pk=low.pk).exists() is False
        event = TicketEvent.objects.get(kind="priority", ticket=ticket)
    assert event.data == {"from": low.name, "to": high.name, "reason": f"“{low.name}” was deleted"}


@pytest.mark.parametrize("bad", ["", "abc", "999999"])
def test_delete_priority_with_bad_replacement_asks_again(acme, bad):
    client = acme.client(acme.admin)
    with acme.scope():
        low = Priority.objects.order_by("rank").first()
        ticket = make_ticket(acme.org, priority=low)
    response = client.post(
        f"/settings/priorities/{low.pk}/delete/", {"confirm": "1", "replacement": bad}
    )
    assert response.status_code == 400
    assert "Pick the priority its tickets move to." in response.content.decode()
    with acme.scope():
        assert Ticket.objects.get(pk=ticket.pk).priority_id == low.pk


def test_replacement_from_another_tenant_is_refused(acme, globex):
    client = acme.client(acme.admin)
    with globex.scope():
        foreign = Priority.objects.first()
    with acme.scope():
        low = Priority.objects.order_by("rank").first()
        ticket = make_ticket(acme.org, priority=low)
    response = client.post(
        f"/settings/priorities/{low.pk}/delete/", {"confirm": "1", "replacement": foreign.pk}
    )
    assert response.status_code == 400
    with acme.scope():
        assert Ticket.objects.get(pk=ticket.pk).priority_id == low.pk
    with globex.scope():
        assert Priority.objects.filter(pk=foreign.pk).exists() is True


def test_unused_status_deletes_after_confirm(acme):
    client = acme.client(acme.admin)
    with acme.scope():
        spare = Status.objects.create(
            organization=acme.org, name="Spare", category="open", position=9
        )
    page = client.post(f"/settings/statuses/{spare.pk}/delete/").content.decode()
    assert "Delete the status “Spare”?" in page
    assert "<select" not in page
    client.post(f"/settings/statuses/{spare.pk}/delete/", {"confirm": "1"})
    with acme.scope():
        assert Status.objects.filter(pk=spare.pk).exists() is False
