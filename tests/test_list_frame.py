"""The frame around the list: the rail marks only the page you are on, avatars carry a colour
from the name and the full name on hover, dropdowns have labelled empty choices, `?` has a
list to show, and the follow button works in place."""

import re

from tenants import services as tenant_services
from tests.factories import make_ticket
from tickets.models import Follower, TicketEvent
from tickets.templatetags.avatars import avatar_color


def _active(body: str) -> list[str]:
    rail = body[body.index('id="rail"') : body.index("</nav>", body.index('id="rail"'))]
    return re.findall(r'class="active" aria-current="page">([^<]+?) ?<', rail)


def test_rail_highlights_the_current_view_only(acme):
    with acme.scope():
        ticket = make_ticket(acme.org)
    client = acme.client(acme.agent)
    assert _active(client.get("/agent/?view=pending").content.decode()) == ["Pending"]
    assert _active(client.get("/agent/").content.decode()) == ["All open"]
    team_view = client.get(f"/agent/?view=open&team={acme.team.pk}").content.decode()
    assert _active(team_view) == ["Support"]
    assert _active(client.get(f"/agent/tickets/{ticket.number}/").content.decode()) == []
    assert _active(client.get("/agent/tickets/new/").content.decode()) == []


def test_avatars_differ_for_same_initials_and_name_the_person(acme):
    with acme.scope():
        ann = tenant_services.user_get_or_create(email="ann.smith@acme.test", name="Ann Smith")
        abe = tenant_services.user_get_or_create(email="abe.stone@acme.test", name="Abe Stone")
        tenant_services.membership_add(organization=acme.org, user=ann, role="agent")
        make_ticket(acme.org, assignee=ann)
    assert ann.initials == abe.initials == "AS"
    assert avatar_color(ann) != avatar_color(abe)
    assert avatar_color(ann) == avatar_color(ann)
    body = acme.client(acme.agent).get("/agent/").content.decode()
    expected = (
        '<span class="avatar small" role="img" aria-label="Ann Smith" title="Ann Smith" '
        f'style="--avatar: {avatar_color(ann)}">AS</span>'
    )
    assert expected in body


def test_no_django_dashes_in_list_and_new_ticket(acme):
    client = acme.client(acme.agent)
    for url in ("/agent/", "/agent/tickets/new/"):
        assert "---------" not in client.get(url).content.decode()
    new = client.get("/agent/tickets/new/").content.decode()
    assert re.findall(r'<option value="" selected>([^<]+)</option>', new) == [
        "Default priority",
        "No team",
        "Nobody",
    ]


def test_shortcuts_dialog_and_whole_row_link(acme):
    with acme.scope():
        ticket = make_ticket(acme.org)
    body = acme.client(acme.agent).get("/agent/").content.decode()
    assert '<dialog id="shortcuts"' in body
    assert f'data-href="/agent/tickets/{ticket.number}/"' in body


def test_follow_and_unfollow_in_place(acme, globex):
    with acme.scope():
        ticket = make_ticket(acme.org, assignee=acme.admin)
    client = acme.client(acme.agent)
    url = f"/agent/tickets/{ticket.number}/follow/"
    body = client.post(url, {"follow": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'aria-pressed="true">Unfollow</button>' in body
    assert "started following" in body
    client.post(url, {"follow": "1"}, HTTP_HX_REQUEST="true")  # twice: still one row
    with acme.scope():
        assert list(Follower.objects.values_list("user_id", flat=True)) == [acme.agent.pk]
    body = client.post(url, {"follow": "0"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'aria-pressed="false">Follow</button>' in body
    with acme.scope():
        assert Follower.objects.count() == 0
        followed = TicketEvent.objects.filter(kind="follower").values_list("data", flat=True)
        assert list(followed) == [{"followed": True}, {"followed": False}]
    assert client.post(url, {"follow": "1"})["Location"] == f"/agent/tickets/{ticket.number}/"
