"""The ticket page's reply flow: in-place updates of every part a change shows in, the honest
"Sending in 2 min" with Undo, Cc/Bcc, forward, Markdown replies and the public/private toggle."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from outbound_mail.models import OutgoingMessage
from outbound_mail.services.sending import outgoing_send_due
from tests.factories import make_ticket
from tests.outbound.conftest import set_debounce
from tickets.models import Comment, Status, Ticket


@pytest.fixture
def agent_client(acme):
    return acme.client(acme.agent)


def _oob(html: str, element_id: str) -> str:
    """The out-of-band element with this id in an htmx response ("" when there is none)."""
    match = re.search(
        rf'<(\w+)[^>]*id="{element_id}"[^>]*hx-swap-oob="[^"]+"[^>]*>.*?</\1>', html, re.S
    )
    return match.group(0) if match else ""


def test_reply_with_status_refreshes_the_sidebar(acme, agent_client):
    with acme.scope():
        ticket = make_ticket(acme.org)
        pending = Status.objects.get(name="Pending")
    response = agent_client.post(
        f"/agent/tickets/{ticket.number}/reply/",
        {"body": "Waiting on you", "status": str(pending.pk)},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    sidebar = _oob(html, "ticket-sidebar")
    selected = re.search(r'id="prop-status">(.*?)</select>', sidebar, re.S).group(1)
    assert re.findall(r"<option[^>]*selected[^>]*>([^<]+)</option>", selected) == ["Pending"]
    assert "changed status from New to Pending" in " ".join(sidebar.split())
    assert " ".join(sidebar.split()).count("replied") == 1
    with acme.scope():
        assert Ticket.objects.get(pk=ticket.pk).status.name == "Pending"


def test_property_change_refreshes_the_main_column(acme, agent_client):
    with acme.scope():
        ticket = make_ticket(acme.org)
        pending = Status.objects.get(name="Pending")
    response = agent_client.post(
        f"/agent/tickets/{ticket.number}/update/",
        {"status": str(pending.pk)},
        HTTP_HX_REQUEST="true",
    )
    chip = _oob(response.content.decode(), "ticket-status-chip")
    assert re.sub(r"<[^>]+>", "", chip).strip() == "Pending"


# -- 8. "Sending in 2 min" and Undo ------------------------------------------------------------


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """`with run(): ...` runs what the block queues after commit (events, tasks), as live."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _reply(client, ticket, run, **data):
    with run():
        return client.post(
            f"/agent/tickets/{ticket.number}/reply/", {"body": "x", **data}, HTTP_HX_REQUEST="true"
        )


def _toasts(html: str) -> list[str]:
    return [t.strip() for t in re.findall(r'<div class="toast[^"]*"[^>]*>(.*?)</div>', html, re.S)]


def _outgoing(tenant, **filters):
    with tenant.scope():
        return list(
            OutgoingMessage.objects.filter(**filters)
            .order_by("id")
            .values_list("to_address", "status")
        )


def test_reply_says_when_it_goes_out(acme, agent_client, run):
    with acme.scope():
        ticket = make_ticket(acme.org)
    html = _reply(agent_client, ticket, run, body="Here you go").content.decode()
    assert _toasts(html) == ["Sending in 2 min. Undo on the reply until then."]
    assert _outgoing(acme, kind="agent_reply") == [("carol@customer.test", "pending")]
    set_debounce(acme, 0)
    html = _reply(agent_client, ticket, run, body="Now").content.decode()
    assert _toasts(html) == ["Reply sent."]


def test_undo_cancels_the_mail_and_returns_the_draft(acme, agent_client, run):
    with acme.scope():
        ticket = make_ticket(acme.org)
    _reply(agent_client, ticket, run, body="Oops, wrong ticket")
    with acme.scope():
        comment = Comment.objects.get(body_text="Oops, wrong ticket")
    with run():
        response = agent_client.post(
            f"/agent/tickets/{ticket.number}/comments/{comment.pk}/undo/", HTTP_HX_REQUEST="true"
        )
    html = response.content.decode()
    assert re.search(r'<textarea id="id_body"[^>]*>(.*?)</textarea>', html, re.S).group(1) == (
        "Oops, wrong ticket"
    )
    assert _toasts(html) == ["Reply withdrawn: nothing was sent. It is back in the reply box."]
    assert "withdrew a reply before it was sent" in " ".join(html.split())
    assert _outgoing(acme, kind="agent_reply") == [("carol@customer.test", "cancelled")]
    with acme.scope():
        assert not Comment.objects.filter(pk=comment.pk).exists()
        sent = outgoing_send_due(organization=acme.org, now=timezone.now() + timedelta(hours=1))
    assert (sent, mail.outbox) == (0, [])


def test_undo_after_it_went_out_is_refused(acme, agent_client, run):
    set_debounce(acme, 0)
    with acme.scope():
        ticket = make_ticket(acme.org)
    _reply(agent_client, ticket, run, body="Gone already")
    with acme.scope():
        comment = Comment.objects.get(body_text="Gone already")
    response = agent_client.post(
        f"/agent/tickets/{ticket.number}/comments/{comment.pk}/undo/", HTTP_HX_REQUEST="true"
    )
    assert _toasts(response.content.decode()) == [
        "Too late to take it back: the reply has already gone out to the customer."
    ]
    with acme.scope():
        assert Comment.objects.filter(pk=comment.pk).exists()
    assert _outgoing(acme, kind="agent_reply") == [("carol@customer.test", "sent")]
    assert [m.to for m in mail.outbox] == [["Carol <carol@customer.test>"]]


def test_undo_one_of_two_folded_replies_keeps_the_other(acme, agent_client, run):
    with acme.scope():
        ticket = make_ticket(acme.org)
    _reply(agent_client, ticket, run, body="First answer")
    _reply(agent_client, ticket, run, body="Second thought")
    with acme.scope():
        second = Comment.objects.get(body_text="Second thought")
    with run():
        agent_client.post(f"/agent/tickets/{ticket.number}/comments/{second.pk}/undo/")
    with acme.scope():
        row = OutgoingMessage.objects.get(kind="agent_reply")
    assert row.status == "pending"
    assert ("First answer" in row.body_text, "Second thought" in row.body_text) == (True, False)


def test_undo_only_your_own_reply_and_not_across_tenants(acme, globex, agent_client, run):
    with acme.scope():
        ticket = make_ticket(acme.org)
    with run():
        acme.client(acme.admin).post(f"/agent/tickets/{ticket.number}/reply/", {"body": "Admin's"})
    with acme.scope():
        comment = Comment.objects.get(body_text="Admin's")
    response = agent_client.post(
        f"/agent/tickets/{ticket.number}/comments/{comment.pk}/undo/", HTTP_HX_REQUEST="true"
    )
    assert _toasts(response.content.decode()) == ["Only your own public reply can be undone."]
    other = globex.client(globex.agent)
    assert (
        other.post(f"/agent/tickets/{ticket.number}/comments/{comment.pk}/undo/").status_code == 404
    )
    assert other.get(f"/agent/tickets/{ticket.number}/comments/abc/undo/").status_code == 404
    assert _outgoing(acme, kind="agent_reply") == [("carol@customer.test", "pending")]


# -- the public/private toggle -------------------------------------------------------------------


def test_note_made_public_reaches_the_customer_through_the_debounce(acme, agent_client, run):
    with acme.scope():
        ticket = make_ticket(acme.org)
    _reply(agent_client, ticket, run, body="Fixed in 2.1", internal="on")
    assert _outgoing(acme, kind="agent_reply") == []
    with acme.scope():
        note = Comment.objects.get(body_text="Fixed in 2.1")
    with run():
        response = agent_client.post(
            f"/agent/tickets/{ticket.number}/comments/{note.pk}/visibility/",
            {"public": "1"},
            HTTP_HX_REQUEST="true",
        )
    html = " ".join(response.content.decode().split())
    assert "made an internal note public" in html
    assert _outgoing(acme, kind="agent_reply") == [("carol@customer.test", "pending")]
    with acme.scope():
        assert Comment.objects.get(pk=note.pk).is_public is True


def test_waiting_reply_made_internal_is_never_sent(acme, agent_client, run):
    with acme.scope():
        ticket = make_ticket(acme.org)
    _reply(agent_client, ticket, run, body="Meant as a note")
    with acme.scope():
        comment = Comment.objects.get(body_text="Meant as a note")
    with run():
        response = agent_client.post(
            f"/agent/tickets/{ticket.number}/comments/{comment.pk}/visibility/",
            {"public": "0"},
            HTTP_HX_REQUEST="true",
        )
    assert "made a reply internal before it was sent" in " ".join(response.content.decode().split())
    assert _outgoing(acme, kind="agent_reply") == [("carol@customer.test", "cancelled")]
    with acme.scope():
        assert Comment.objects.get(pk=comment.pk).is_public is False


def test_sent_reply_cannot_be_made_internal(acme, agent_client, run):
    set_debounce(acme, 0)
    with acme.scope():
        ticket = make_ticket(acme.org)
    _reply(agent_client, ticket, run, body="Out the door")
    with acme.scope():
        comment = Comment.objects.get(body_text="Out the door")
    response = agent_client.post(
        f"/agent/tickets/{ticket.number}/comments/{comment.pk}/visibility/",
        {"public": "0"},
        HTTP_HX_REQUEST="true",
    )
    assert _toasts(response.content.decode()) == [
        "Too late to take it back: the reply has already gone out to the customer."
    ]
    with acme.scope():
        assert Comment.objects.get(pk=comment.pk).is_public is True


# -- Cc and Bcc ------------------------------------------------------------------------------------


def test_reply_with_cc_and_bcc(acme, agent_client, run):
    set_debounce(acme, 0)
    with acme.scope():
        ticket = make_ticket(acme.org)
    response = _reply(
        agent_client,
        ticket,
        run,
        body="Looping in finance",
        cc="Dave@Customer.test; erin@customer.test, dave@customer.test",
        bcc="boss@customer.test",
    )
    html = " ".join(response.content.decode().split())
    assert (
        "To carol@customer.test · Cc dave@customer.test, erin@customer.test · "
        "Bcc boss@customer.test" in html
    )
    with acme.scope():
        comment = Comment.objects.get(body_text="Looping in finance")
        collaborators = sorted(ticket.collaborators.values_list("email", flat=True))
    assert comment.recipients == {
        "to": ["carol@customer.test"],
        "cc": ["dave@customer.test", "erin@customer.test"],
        "bcc": ["boss@customer.test"],
    }
    assert collaborators == ["dave@customer.test", "erin@customer.test"]
    sent = sorted(
        (m.recipients()[0], m.extra_headers.get("To"), m.extra_headers.get("Cc"))
        for m in mail.outbox
        if "Looping in finance" in m.body
    )
    shown = ("carol@customer.test", "dave@customer.test, erin@customer.test")
    assert sent == [
        ("Carol <carol@customer.test>", *shown),
        ("boss@customer.test", *shown),
        ("dave@customer.test", *shown),
        ("erin@customer.test", *shown),
    ]
    assert all(
        "boss@" not in str(m.message()) for m in mail.outbox if m.to != ["boss@customer.test"]
    )


def test_reply_with_bad_cc_is_a_clear_message(acme, agent_client):
    with acme.scope():
        ticket = make_ticket(acme.org)
    url = f"/agent/tickets/{ticket.number}/reply/"
    response = agent_client.post(
        url, {"body": "x", "cc": "dave@, ok@x.test"}, HTTP_HX_REQUEST="true"
    )
    assert re.search(r'id="cc-error"[^>]*>([^<]+)<', response.content.decode()).group(1) == (
        "Cc: “dave@” is not an email address."
    )
    response = agent_client.post(url, {"body": "x", "bcc": "a@x.test", "internal": "on"})
    assert "An internal note goes to no one: remove Cc and Bcc." in response.content.decode()
    assert response.status_code == 400
    with acme.scope():
        assert list(Comment.objects.filter(ticket=ticket).values_list("body_text", flat=True)) == [
            "Help!"
        ]
