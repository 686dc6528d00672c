"""Tags: per tenant, unique ignoring case; added and removed on the ticket page and in bulk,
shown on list rows, a `?tag=` filter; renamed, merged and deleted by admins with timeline
entries; another tenant's tag or ticket is a 404; the list's query count stays fixed."""

import re

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from tenants.scoping import TenantMismatch
from tests.factories import make_ticket
from tickets.models import Tag, Ticket, TicketEvent, TicketTag
from tickets.services.tags import tag_merge, ticket_tags_add


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _tags(tenant, ticket) -> list[str]:
    with tenant.scope():
        return sorted(Ticket.objects.get(pk=ticket.pk).tags.values_list("name", flat=True))


def _tag_events(tenant, ticket) -> list[dict]:
    with tenant.scope():
        return list(
            TicketEvent.objects.filter(ticket=ticket, kind="tags")
            .order_by("id")
            .values_list("data", flat=True)
        )


def _numbers(response) -> list[int]:
    return [int(n) for n in re.findall(r'data-number="(\d+)"', response.content.decode())]


def test_tag_names_are_unique_per_tenant_ignoring_case(acme, globex):
    with acme.scope():
        ticket = make_ticket(acme.org)
        ticket_tags_add(ticket=ticket, names=["VIP"])
        ticket_tags_add(ticket=ticket, names=["vip", "Billing"])
        assert sorted(Tag.objects.values_list("name", flat=True)) == ["Billing", "VIP"]
        with pytest.raises(IntegrityError), transaction.atomic():
            Tag.objects.create(organization=acme.org, name="billing")
    with globex.scope():
        Tag.objects.create(organization=globex.org, name="vip")  # another tenant's own tag
        assert Tag.objects.count() == 1


def test_add_and_remove_on_the_ticket_page_in_place(acme):
    with acme.scope():
        ticket = make_ticket(acme.org)
    client = acme.client(acme.agent)
    url = f"/agent/tickets/{ticket.number}/tags/"
    response = client.post(url, {"add": " vip ,  Billing  issue,VIP"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert _tags(acme, ticket) == ["Billing issue", "vip"]
    assert 'id="ticket-tags"' in body
    assert "tagged Billing issue, vip" in body
    assert 'id="rail"' in body  # the sidebar's usual out-of-band parts come along
    client.post(url, {"remove": "VIP"}, HTTP_HX_REQUEST="true")
    assert _tags(acme, ticket) == ["Billing issue"]
    assert _tag_events(acme, ticket) == [
        {"added": ["Billing issue", "vip"], "removed": []},
        {"added": [], "removed": ["vip"]},
    ]


def test_bad_tag_input_says_what_to_do(acme):
    with acme.scope():
        ticket = make_ticket(acme.org)
    client = acme.client(acme.agent)
    url = f"/agent/tickets/{ticket.number}/tags/"
    response = client.post(url, {"add": "x" * 51})
    assert _messages(response) == ["A tag is at most 50 characters: “xxxxxxxxxxxxxxxxxxxx…”."]
    response = acme.client(acme.agent).post(url, {"add": " , "})
    assert _messages(response) == ["Type a tag to add."]
    assert response["Location"] == f"/agent/tickets/{ticket.number}/"
    assert _tags(acme, ticket) == []


def test_another_tenants_ticket_is_404_for_tags_and_follow(acme, globex):
    with globex.scope():
        make_ticket(globex.org)
        ticket = make_ticket(globex.org)
    with acme.scope():
        make_ticket(acme.org)
    client = acme.client(acme.agent)
    assert client.post(f"/agent/tickets/{ticket.number}/tags/", {"add": "x"}).status_code == 404
    assert (
        client.post(f"/agent/tickets/{ticket.number}/follow/", {"follow": "1"}).status_code == 404
    )
    assert _tags(globex, ticket) == []


def test_list_shows_tags_and_filters_by_tag(acme, globex):
    with acme.scope():
        a = make_ticket(acme.org, subject="Alpha")
        make_ticket(acme.org, subject="Beta")
        ticket_tags_add(ticket=a, names=["VIP"])
    with globex.scope():
        g = make_ticket(globex.org, subject="Globex VIP")
        ticket_tags_add(ticket=g, names=["vip"])
    client = acme.client(acme.agent)
    response = client.get("/agent/?view=all&tag=vip")
    assert _numbers(response) == [a.number]
    assert '<a class="tag" href="?view=all&amp;tag=VIP">VIP</a>' in response.content.decode()
    assert '<option value="VIP" selected>VIP</option>' in response.content.decode()
    assert _numbers(client.get("/agent/?view=all&tag=nosuch")) == []
    assert _numbers(client.get("/agent/?view=all&tag=" + "x" * 80)) == [2, 1]  # ignored, not 500


def _queries(client, url) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_list_query_count_is_fixed_with_tags(acme):
    client = acme.client(acme.agent)
    with acme.scope():
        ticket_tags_add(ticket=make_ticket(acme.org), names=["a", "b"])
    one = _queries(client, "/agent/?view=all")
    with acme.scope():
        for i in range(49):
            ticket = make_ticket(acme.org, email=f"p{i}@x.test", assignee=acme.agent)
            ticket_tags_add(ticket=ticket, names=[f"t{i % 5}", "a"])
    assert _queries(client, "/agent/?view=all") == one
    assert _queries(client, "/agent/?view=all&tag=a") == one


def test_bulk_tags_add_and_remove(acme):
    with acme.scope():
        a = make_ticket(acme.org)
        b = make_ticket(acme.org)
        ticket_tags_add(ticket=a, names=["old"])
    response = acme.client(acme.agent).post(
        "/agent/tickets/bulk/", {"tickets": f"{a.number},{b.number}", "tags_add": "New"}
    )
    assert _messages(response) == ["Updated 2 tickets."]
    response = acme.client(acme.agent).post(
        "/agent/tickets/bulk/", {"tickets": f"{a.number},{b.number}", "tags_remove": "old"}
    )
    assert _messages(response) == ["Updated 1 of 2 selected tickets; 1 already matched."]
    assert (_tags(acme, a), _tags(acme, b)) == (["New"], ["New"])
    response = acme.client(acme.agent).post(
        "/agent/tickets/bulk/", {"tickets": f"{a.number}", "tags_add": "y" * 60}
    )
    assert _messages(response) == ["A tag is at most 50 characters: “yyyyyyyyyyyyyyyyyyyy…”."]


def test_settings_rename_merge_delete(acme):
    with acme.scope():
        a = make_ticket(acme.org)
        b = make_ticket(acme.org)
        ticket_tags_add(ticket=a, names=["Bug", "Defect"])
        ticket_tags_add(ticket=b, names=["Defect"])
        bug, defect = Tag.objects.get(name="Bug"), Tag.objects.get(name="Defect")
    admin = acme.client(acme.admin)
    page = admin.get("/settings/tags/").content.decode()
    assert re.findall(r'<a class="tag" href="[^"]+">([^<]+)</a></td>\s*<td>(\d+)</td>', page) == [
        ("Bug", "1"),
        ("Defect", "2"),
    ]
    response = admin.post(f"/settings/tags/{bug.pk}/rename/", {"name": "bugs"})
    assert _messages(response) == ["Renamed “Bug” to “bugs”."]
    response = acme.client(acme.admin).post(f"/settings/tags/{bug.pk}/rename/", {"name": "DEFECT"})
    assert _messages(response) == ["There is already a tag “Defect”: merge into it instead."]
    response = acme.client(acme.admin).post(
        f"/settings/tags/{defect.pk}/merge/", {"into": str(bug.pk)}
    )
    assert _messages(response) == ["Merged “Defect” into “bugs” (2 tickets)."]
    assert (_tags(acme, a), _tags(acme, b)) == (["bugs"], ["bugs"])
    assert _tag_events(acme, b)[-1] == {"from": "Defect", "to": "bugs"}
    response = acme.client(acme.admin).post(f"/settings/tags/{bug.pk}/delete/")
    assert _messages(response) == ["Deleted “bugs” (removed from 2 tickets)."]
    assert (_tags(acme, a), _tags(acme, b)) == ([], [])
    assert _tag_events(acme, a)[-1] == {"added": [], "removed": ["bugs"]}
    with acme.scope():
        assert Tag.objects.count() == 0


def test_settings_tags_bad_input_and_other_tenant(acme, globex):
    with globex.scope():
        foreign = Tag.objects.create(organization=globex.org, name="secret")
    with acme.scope():
        mine = Tag.objects.create(organization=acme.org, name="mine")
    admin = acme.client(acme.admin)
    assert admin.post(f"/settings/tags/{foreign.pk}/delete/").status_code == 404
    assert admin.post(f"/settings/tags/{foreign.pk}/rename/", {"name": "x"}).status_code == 404
    response = admin.post(f"/settings/tags/{mine.pk}/merge/", {"into": str(foreign.pk)})
    assert _messages(response) == ["Pick a tag of this helpdesk to merge into."]
    response = acme.client(acme.admin).post(f"/settings/tags/{mine.pk}/merge/", {"into": "x"})
    assert _messages(response) == ["Pick a tag of this helpdesk to merge into."]
    response = acme.client(acme.admin).post(f"/settings/tags/{mine.pk}/rename/", {"name": "a,b"})
    assert _messages(response) == ["Give the tag one name (no commas)."]
    assert "secret" not in acme.client(acme.admin).get("/settings/tags/").content.decode()
    assert acme.client(acme.agent).get("/settings/tags/").status_code in (403, 404)
    with globex.scope():
        assert Tag.objects.get(pk=foreign.pk).name == "secret"


def test_merge_into_itself_is_refused(acme):
    with acme.scope():
        tag = Tag.objects.create(organization=acme.org, name="x")
        with pytest.raises(ValueError, match="Pick another tag"):
            tag_merge(source=tag, target=tag)


def test_adding_tags_is_one_statement_and_says_only_what_was_new(acme):
    with acme.scope():
        ticket = make_ticket(acme.org)
        known: dict[str, Tag] = {}
        assert ticket_tags_add(ticket=ticket, names=["VIP", "Billing"], known=known) == [
            "VIP",
            "Billing",
        ]
        assert set(known) == {"vip", "billing"}  # remembered for the caller's next add
        with CaptureQueriesContext(connection) as queries:
            added = ticket_tags_add(ticket=ticket, names=["vip", "Refund", "billing"], known=known)
        assert added == ["Refund"]
        writes = [q["sql"] for q in queries.captured_queries]
        links = [sql for sql in writes if "tickets_tickettag" in sql]
        assert len(links) == 1
        assert links[0].startswith("INSERT")
        # "Refund" was new to the tenant: one read for it and its insert, none for the others.
        assert sum('FROM "tickets_tag"' in sql for sql in writes) == 1
        assert ticket_tags_add(ticket=ticket, names=["VIP"], known=known) == []
        assert ticket_tags_add(ticket=ticket, names=["refund"]) == []  # no `known`: read
    assert _tags(acme, ticket) == ["Billing", "Refund", "VIP"]
    assert [e["added"] for e in _tag_events(acme, ticket)] == [["Billing", "VIP"], ["Refund"]]


def test_a_tag_linked_meanwhile_is_not_said_added_twice(acme):
    # Another change linked the tag after this one's caller read the ticket: the insert finds
    # it there (the unique index) and this add says nothing of it.
    with acme.scope():
        ticket = make_ticket(acme.org)
        tag = Tag.objects.create(organization=acme.org, name="urgent")
        TicketTag.objects.create(organization=acme.org, ticket=ticket, tag=tag)
        assert ticket_tags_add(ticket=ticket, names=["Urgent", "new"]) == ["new"]
        assert TicketTag.objects.filter(ticket=ticket).count() == 2
    assert [e["added"] for e in _tag_events(acme, ticket)] == [["new"]]


def test_tags_are_linked_only_to_the_active_tenants_ticket(acme, globex):
    with globex.scope():
        foreign = make_ticket(globex.org)
    with acme.scope():
        Tag.objects.create(organization=acme.org, name="x")  # acme's: found, not created
        with pytest.raises(TenantMismatch), transaction.atomic():
            ticket_tags_add(ticket=foreign, names=["x"])
    with globex.scope():
        assert not TicketTag.objects.filter(ticket=foreign).exists()
