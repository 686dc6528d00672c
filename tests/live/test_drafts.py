"""Drafts (live.drafts, live.views): the endpoint saves, restores and deletes an agent's own draft
of a ticket, within the tenant and the limit, and a comment by that agent clears it."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client

from live import presence, relay
from live.drafts import draft_save
from live.models import Draft
from tenants import services as tenant_services
from tenants.models import Membership
from tests.factories import make_ticket
from tickets.services.comments import comment_create
from tickets.templatetags.avatars import avatar_color


@pytest.fixture(autouse=True)
def _layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.REDIS_URL = ""  # presence in the process: these tests are about drafts


@pytest.fixture
def ticket(acme):
    with acme.scope():
        return make_ticket(acme.org)


def url(ticket) -> str:
    return f"/agent/tickets/{ticket.number}/draft/"


def drafts_of(acme, ticket) -> list[tuple[int, str, bool]]:
    with acme.scope():
        return list(Draft.objects.filter(ticket=ticket).values_list("user_id", "body", "internal"))


def test_draft_saved_is_restored(acme, ticket):
    client = acme.client(acme.agent)
    saved = client.post(url(ticket), {"body": "Dear Carol,\nwe are on it", "internal": "1"})
    assert saved.status_code == 200
    restored = client.get(url(ticket))
    assert restored.status_code == 200
    assert restored["Content-Type"] == "application/json"
    data = restored.json()
    assert data == saved.json()
    assert (data["body"], data["internal"]) == ("Dear Carol,\nwe are on it", True)
    assert drafts_of(acme, ticket) == [(acme.agent.pk, "Dear Carol,\nwe are on it", True)]


def test_draft_saved_again_replaces_the_first(acme, ticket):
    client = acme.client(acme.agent)
    client.post(url(ticket), {"body": "first", "internal": "1"})
    client.post(url(ticket), {"body": "second"})
    assert client.get(url(ticket)).json()["body"] == "second"
    assert drafts_of(acme, ticket) == [(acme.agent.pk, "second", False)]


def test_draft_none_is_204(acme, ticket):
    response = acme.client(acme.agent).get(url(ticket))
    assert (response.status_code, response.content) == (204, b"")


def test_draft_empty_body_deletes_it(acme, ticket):
    client = acme.client(acme.agent)
    client.post(url(ticket), {"body": "something"})
    deleted = client.post(url(ticket), {"body": "  \n"})
    assert deleted.status_code == 204
    assert client.get(url(ticket)).status_code == 204
    assert drafts_of(acme, ticket) == []


def test_draft_of_100_kb_is_kept_and_one_byte_more_refused(acme, ticket):
    client = acme.client(acme.agent)
    assert client.post(url(ticket), {"body": "é" * 51_200}).status_code == 200  # 102,400 bytes
    refused = client.post(url(ticket), {"body": "é" * 51_200 + "!"})
    assert refused.status_code == 400
    assert refused.json() == {"error": "A draft can be at most 100 KB; this one is 101 KB."}
    assert drafts_of(acme, ticket) == [(acme.agent.pk, "é" * 51_200, False)]


def test_draft_is_each_agents_own(acme, ticket):
    acme.client(acme.agent).post(url(ticket), {"body": "mine"})
    assert acme.client(acme.admin).get(url(ticket)).status_code == 204


def test_draft_of_another_tenants_ticket_is_404(acme, globex, ticket):
    with globex.scope():
        make_ticket(globex.org)  # number 1 there too
        theirs = make_ticket(globex.org)  # number 2: none in acme
    acme.client(acme.agent).post(url(ticket), {"body": "acme's"})
    assert acme.client(acme.agent).get(url(theirs)).status_code == 404
    assert acme.client(acme.agent).post(url(theirs), {"body": "x"}).status_code == 404
    # Globex's agent on Globex's ticket 1 sees nothing of acme's draft on acme's ticket 1.
    assert globex.client(globex.agent).get(url(ticket)).status_code == 204
    # On acme's host a globex agent is no one.
    stranger = Client(HTTP_HOST=f"{acme.org.slug}.localhost")
    stranger.force_login(globex.agent)
    assert stranger.get(url(ticket)).status_code == 404
    assert stranger.post(url(ticket), {"body": "x"}).status_code == 404
    assert drafts_of(acme, ticket) == [(acme.agent.pk, "acme's", False)]


def test_draft_needs_a_signed_in_agent(acme, ticket):
    response = acme.client().get(url(ticket))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_draft_post_needs_the_csrf_token(acme, ticket):
    client = Client(HTTP_HOST=f"{acme.org.slug}.localhost", enforce_csrf_checks=True)
    client.force_login(acme.agent)
    assert client.post(url(ticket), {"body": "x"}).status_code == 403
    assert drafts_of(acme, ticket) == []


def test_draft_other_methods_are_405(acme, ticket):
    assert acme.client(acme.agent).delete(url(ticket)).status_code == 405


def test_draft_cleared_when_that_agents_comment_is_added(
    acme, ticket, django_capture_on_commit_callbacks
):
    with acme.scope():
        draft_save(ticket=ticket, user=acme.agent, body="Dear Carol", internal=False)
        draft_save(ticket=ticket, user=acme.admin, body="Admin's own", internal=True)
        with django_capture_on_commit_callbacks(execute=True):
            comment_create(ticket=ticket, body_text="Dear Carol, done.", author_user=acme.agent)
    assert drafts_of(acme, ticket) == [(acme.admin.pk, "Admin's own", True)]


def test_draft_kept_when_another_agent_or_the_customer_comments(
    acme, ticket, django_capture_on_commit_callbacks
):
    with acme.scope():
        draft_save(ticket=ticket, user=acme.agent, body="Dear Carol", internal=False)
        with django_capture_on_commit_callbacks(execute=True):
            comment_create(ticket=ticket, body_text="I'll take it", author_user=acme.admin)
        with django_capture_on_commit_callbacks(execute=True):
            comment_create(ticket=ticket, body_text="Any news?", author_contact=ticket.requester)
    assert drafts_of(acme, ticket) == [(acme.agent.pk, "Dear Carol", False)]


def test_draft_kept_on_another_ticket_when_the_agent_comments(
    acme, ticket, django_capture_on_commit_callbacks
):
    with acme.scope():
        other = make_ticket(acme.org, subject="Another")
        draft_save(ticket=ticket, user=acme.agent, body="Dear Carol", internal=False)
        with django_capture_on_commit_callbacks(execute=True):
            comment_create(ticket=other, body_text="Done", author_user=acme.agent)
    assert drafts_of(acme, ticket) == [(acme.agent.pk, "Dear Carol", False)]


def test_draft_cleared_by_a_note_sent_from_the_ticket_page(
    acme, ticket, django_capture_on_commit_callbacks
):
    client = acme.client(acme.agent)
    client.post(url(ticket), {"body": "A note", "internal": "1"})
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(
            f"/agent/tickets/{ticket.number}/reply/", {"body": "A note", "internal": "on"}
        )
    assert sent.status_code == 302
    assert client.get(url(ticket)).status_code == 204


def test_draft_coming_and_going_is_announced_as_presence(
    acme, ticket, django_capture_on_commit_callbacks, monkeypatch
):
    # This process stands for the one serving the sockets (config.asgi marks it so): the
    # in-memory layer here is theirs.
    monkeypatch.setattr(relay, "_serving", True)
    layer = get_channel_layer()
    group = presence.ticket_group(acme.org.pk, ticket.pk)
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    client = acme.client(acme.agent)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url(ticket), {"body": "first"})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        client.post(url(ticket), {"body": "first and more"})  # still a draft: no news
    assert callbacks == []
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url(ticket), {"body": ""})
    came = async_to_sync(layer.receive)(channel)
    went = async_to_sync(layer.receive)(channel)
    assert came == {
        "type": "live.presence",
        "organization": acme.org.pk,
        "ticket": ticket.number,
        "people": [
            {
                "user": acme.agent.pk,
                "name": "Acme Agent",
                "initials": "AA",
                "color": avatar_color(acme.agent),
                "state": "draft",
                "draft": True,
            }
        ],
    }
    assert went == {
        "type": "live.presence",
        "organization": acme.org.pk,
        "ticket": ticket.number,
        "people": [],
    }


def test_draft_json_has_the_time_it_was_saved(acme, ticket):
    client = acme.client(acme.agent)
    body = client.post(url(ticket), {"body": "x"}).content
    with acme.scope():
        saved = Draft.objects.get(ticket=ticket)
    assert json.loads(body)["updated_at"] == saved.updated_at.isoformat()


def test_draft_of_a_signed_in_user_without_membership_is_404(acme, ticket):
    with acme.scope():
        user = tenant_services.user_get_or_create(email="nobody@acme.test", password="pw")
        assert not Membership.objects.filter(user=user).exists()
    assert acme.client(user).get(url(ticket)).status_code == 404
