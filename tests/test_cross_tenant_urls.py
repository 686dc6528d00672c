"""Every agent URL that names a ticket answers 404 for another tenant's ticket, never 403."""

import pytest
from django.urls import get_resolver

from tests.factories import make_ticket
from tickets.models import Attachment, CannedResponse
from tickets.services.attachments import Upload, attachment_store


def _ticket_routes():
    resolver = get_resolver("tickets.urls")
    return sorted({p.name for p in resolver.url_patterns if "number" in str(p.pattern)})


@pytest.fixture
def globex_ticket(globex):
    with globex.scope():
        make_ticket(globex.org)  # number 1, like acme's
        ticket = make_ticket(globex.org, subject="Globex secret")  # number 2: only globex has it
        attachment_store(
            ticket=ticket,
            comment=None,
            upload=Upload(filename="secret.txt", content=b"globex secret"),
        )
        canned = CannedResponse.objects.create(organization=globex.org, name="G", body="x")
        attachment_ids = list(Attachment.objects.filter(ticket=ticket).values_list("pk", flat=True))
    return ticket, attachment_ids, canned


def test_routes_under_test_cover_all_ticket_urls():
    assert _ticket_routes() == [
        "attachment",
        "canned",
        "comment_frame",
        "comment_images",
        "comment_images_always",
        "comment_undo",
        "comment_visibility",
        "detail",
        "follow",
        "forward",
        "held_reply",
        "merge",
        "preview",
        "reply",
        "split",
        "tags",
        "update",
    ]


def test_other_tenants_ticket_is_404_everywhere(acme, globex, globex_ticket):
    ticket, attachment_ids, canned = globex_ticket
    with acme.scope():
        make_ticket(acme.org)  # acme has #1 only
    with globex.scope():
        comment_ids = list(ticket.comments.values_list("pk", flat=True))
    client = acme.client(acme.agent)
    n = ticket.number
    responses = {
        "detail": client.get(f"/agent/tickets/{n}/"),
        "reply": client.post(f"/agent/tickets/{n}/reply/", {"body": "hi"}),
        "update": client.post(f"/agent/tickets/{n}/update/", {"status": "1"}),
        "tags": client.post(f"/agent/tickets/{n}/tags/", {"add": "x"}),
        "follow": client.post(f"/agent/tickets/{n}/follow/", {"follow": "1"}),
        "attachment": client.get(f"/agent/tickets/{n}/attachments/{attachment_ids[0]}/"),
        "canned": client.get(f"/agent/tickets/{n}/canned/{canned.pk}/"),
        "merge": client.post(f"/agent/tickets/{n}/merge/", {"into": "1"}),
        "split": client.post(f"/agent/tickets/{n}/comments/{comment_ids[0]}/split/"),
        "comment_images": client.get(
            f"/agent/tickets/{n}/comments/{comment_ids[0]}/images/", HTTP_HX_REQUEST="true"
        ),
        "comment_images_always": client.post(
            f"/agent/tickets/{n}/comments/{comment_ids[0]}/images/always/", {"scope": "domain"}
        ),
        "comment_frame": client.get(f"/agent/tickets/{n}/comments/{comment_ids[0]}/frame/"),
        "comment_undo": client.post(f"/agent/tickets/{n}/comments/{comment_ids[0]}/undo/"),
        "comment_visibility": client.post(
            f"/agent/tickets/{n}/comments/{comment_ids[0]}/visibility/", {"public": "1"}
        ),
        "forward": client.post(f"/agent/tickets/{n}/forward/", {"to": "x@example.test"}),
        "preview": client.post(f"/agent/tickets/{n}/preview/", {"body": "**hi**"}),
        "held_reply": client.get(f"/agent/tickets/{n}/held/{comment_ids[0]}/"),
    }
    assert set(responses) == set(_ticket_routes())
    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 404)
    # live's draft of that ticket (live.urls) too, reading and writing.
    assert client.get(f"/agent/tickets/{n}/draft/").status_code == 404
    assert client.post(f"/agent/tickets/{n}/draft/", {"body": "x"}).status_code == 404


def test_other_tenants_attachment_on_own_ticket_number_is_404(acme, globex_ticket):
    _, attachment_ids, canned = globex_ticket
    with acme.scope():
        make_ticket(acme.org)
        make_ticket(acme.org)
    client = acme.client(acme.agent)
    assert client.get(f"/agent/tickets/2/attachments/{attachment_ids[0]}/").status_code == 404
    assert client.get(f"/agent/tickets/2/canned/{canned.pk}/").status_code == 404


def test_bulk_cannot_touch_other_tenants_tickets(acme, globex, globex_ticket):
    ticket, _, _ = globex_ticket
    client = acme.client(acme.agent)
    response = client.post(
        "/agent/tickets/bulk/", {"tickets": str(ticket.number), "assignee": str(acme.agent.pk)}
    )
    assert response.status_code == 302
    with globex.scope():
        ticket.refresh_from_db()
    assert ticket.assignee_id is None
