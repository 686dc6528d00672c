"""The send guard on the ticket page (issue 14): a public reply is held, not sent, when a newer
public entry that is not the agent's own arrived, or the requester changed, since the page the
agent wrote on. 409 for htmx and plain posts alike, the text kept, what is new shown, and
"Send anyway" / "Edit first". Internal notes are never held."""

import html
import re
import threading

import pytest
from django.db import connection, connections, transaction
from django.template.defaultfilters import date
from django.test.utils import CaptureQueriesContext
from django.utils.timezone import localtime

from outbound_mail.models import OutgoingMessage
from tenants import services as tenant_services
from tenants.models import Membership
from tests.factories import make_ticket
from tickets.forms import SEEN_MESSAGE
from tickets.models import Comment, Ticket
from tickets.services.comments import comment_create
from tickets.services.contacts import contact_get_or_create
from tickets.services.merge import contact_merge
from tickets.services.send_guard import ReplyHeld, Seen, reply_create_guarded


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """`with run(): ...` runs what the block queues after commit (events, tasks), as live."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def bob(acme):
    """A second agent of acme."""
    with acme.scope():
        user = tenant_services.user_get_or_create(
            email="bob@acme.test", name="Bob Mulder", password="pw"
        )
        tenant_services.membership_add(organization=acme.org, user=user, role=Membership.AGENT)
    return user


@pytest.fixture
def ticket(acme):
    with acme.scope():
        return make_ticket(acme.org, body="My invoice is missing.")


def _page_state(client, ticket) -> dict[str, str]:
    """The send guard's hidden fields of the reply form, as the ticket page renders them."""
    page = client.get(f"/agent/tickets/{ticket.number}/").content.decode()
    return _seen(page)


def _seen(page: str) -> dict[str, str]:
    form = re.search(r'<form id="reply".*?</form>', page, re.S).group(0)
    return dict(re.findall(r'<input type="hidden" name="(seen_\w+)" value="([^"]*)">', form))


def _post(client, ticket, run, *, htmx=True, **data):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    with run():
        return client.post(f"/agent/tickets/{ticket.number}/reply/", data, **headers)


def _customer_writes(acme, ticket, text="Also, the address is wrong."):
    with acme.scope():
        return comment_create(
            ticket=ticket,
            body_text=text,
            author_contact=ticket.requester,
            channel=Comment.Channel.EMAIL,
        )


def _agent_writes(acme, ticket, user, text, *, public=True):
    with acme.scope():
        return comment_create(ticket=ticket, body_text=text, author_user=user, is_public=public)


def _bodies(acme, ticket) -> list[str]:
    with acme.scope():
        return list(
            Comment.objects.filter(ticket=ticket).order_by("pk").values_list("body_text", flat=True)
        )


def _replies_out(acme) -> list[str]:
    with acme.scope():
        rows = OutgoingMessage.objects.filter(kind="agent_reply").order_by("id")
        return [r.to_address for r in rows]


def _textarea(page: str) -> str:
    return html.unescape(re.search(r'<textarea id="id_body"[^>]*>(.*?)</textarea>', page, re.S)[1])


def _guard(page: str) -> str:
    """The held panel's text, whitespace folded ("" when the page has none)."""
    match = re.search(r'<div class="send-guard".*?<div class="send-guard-actions">', page, re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", match.group(0))) if match else ""
    return " ".join(text.split())


def _send_hidden(page: str) -> bool:
    return re.search(r'<button type="submit" class="primary" id="send"[^>]*>', page)[0].endswith(
        " hidden>"
    )


# -- the page carries what it shows -----------------------------------------------------------


def test_page_carries_the_newest_comment_and_the_requester(acme, ticket):
    with acme.scope():
        note = comment_create(
            ticket=ticket, body_text="internal", author_user=acme.admin, is_public=False
        )
        requester_id = Ticket.objects.get(pk=ticket.pk).requester_id
    client = acme.client(acme.agent)
    assert _page_state(client, ticket) == {
        "seen_comment": str(note.pk),
        "seen_requester": str(requester_id),
    }


# -- held -------------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_reply_is_held_when_the_customer_wrote_since_the_page_opened(acme, ticket, run, htmx):
    client = acme.client(acme.agent)
    seen = _page_state(client, ticket)
    newer = _customer_writes(acme, ticket)
    response = _post(client, ticket, run, htmx=htmx, body="Here is your invoice.", **seen)
    page = response.content.decode()
    assert response.status_code == 409
    assert _bodies(acme, ticket) == ["My invoice is missing.", "Also, the address is wrong."]
    assert _replies_out(acme) == []
    assert _textarea(page) == "Here is your invoice."
    assert _guard(page) == (
        "Not sent. While you were writing, a new entry arrived on this ticket. Read it before "
        f"you send. Carol wrote via email, {date(localtime(newer.created_at), 'M j, H:i')} "
        "Also, the address is wrong."
    )
    assert f'href="#comment-{newer.pk}"' in page
    # The conversation shows it in full (tickets/_entry.html), and the form is now up to date.
    assert f'<li class="entry  " id="comment-{newer.pk}">' in page
    assert _seen(page) == {**seen, "seen_comment": str(newer.pk)}
    assert _send_hidden(page)
    assert ('<main id="main"' in page) is not htmx


def test_reply_is_held_when_another_agent_replied(acme, ticket, run, bob):
    client = acme.client(acme.agent)
    seen = _page_state(client, ticket)
    _agent_writes(acme, ticket, bob, "Sent it an hour ago.")
    page = _post(client, ticket, run, body="Here is your invoice.", **seen).content.decode()
    assert _guard(page).startswith(
        "Not sent. While you were writing, a new entry arrived on this ticket."
    )
    assert "Bob Mulder replied via agent" in _guard(page)
    assert _guard(page).endswith(" Sent it an hour ago.")
    assert _bodies(acme, ticket) == ["My invoice is missing.", "Sent it an hour ago."]


def test_reply_is_held_when_the_requester_changed(acme, ticket, run):
    client = acme.client(acme.agent)
    seen = _page_state(client, ticket)
    with acme.scope():
        carol = Ticket.objects.get(pk=ticket.pk).requester
        dana = contact_get_or_create(organization=acme.org, email="dana@customer.test", name="Dana")
        contact_merge(contact=carol, into=dana, actor_user=acme.admin)
    response = _post(client, ticket, run, body="Here is your invoice.", **seen)
    page = response.content.decode()
    assert response.status_code == 409
    assert _guard(page) == (
        "Not sent. The requester changed since you opened the ticket: this reply now goes to "
        "Dana <dana@customer.test>."
    )
    assert _seen(page)["seen_requester"] == str(dana.pk)
    assert _bodies(acme, ticket) == ["My invoice is missing."]


def test_reply_with_files_says_to_attach_them_again(acme, ticket, run):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = acme.client(acme.agent)
    seen = _page_state(client, ticket)
    _customer_writes(acme, ticket)
    upload = SimpleUploadedFile("invoice.pdf", b"%PDF-1.4", content_type="application/pdf")
    page = _post(client, ticket, run, body="Attached.", attachments=upload, **seen)
    assert "Attach your file again before you send" in page.content.decode()


# -- not held ---------------------------------------------------------------------------------


def test_reply_after_own_newer_reply_is_sent(acme, ticket, run):
    client = acme.client(acme.agent)
    seen = _page_state(client, ticket)
    _agent_writes(acme, ticket, acme.agent, "First part (another tab).")
    response = _post(client, ticket, run, body="Second part.", **seen)
    assert response.status_code == 200
    assert _bodies(acme, ticket)[-1] == "Second part."


def test_own_reply_counts_as_seeing_what_came_before_it(acme, ticket, run):
    # The customer wrote, the agent answered it from another tab: this page's reply is not held.
    client = acme.client(acme.agent)
    seen = _page_state(client, ticket)
    _customer_writes(acme, ticket)
    _agent_writes(acme, ticket, acme.agent, "Answered in the other tab.")
    assert _post(client, ticket, run, body="And one more thing.", **seen).status_code == 200


def test_internal_note_is_never_held(acme, ticket, run, bob):
    client = acme.client(acme.agent)
    seen = _page_state(client, ticket)
    _customer_writes(acme, ticket)
    _agent_writes(acme, ticket, bob, "Bob's answer.")
    response = _post(client, ticket, run, body="Note to self.", internal="on", **seen)
    assert response.status_code == 200
    assert _bodies(acme, ticket)[-1] == "Note to self."


def test_reply_without_newer_public_entry_is_sent(acme, ticket, run, bob):
    client = acme.client(acme.agent)
    seen = _page_state(client, ticket)
    # Another agent's internal note is not an answer to the customer: it holds nothing.
    _agent_writes(acme, ticket, bob, "Looking into it.", public=False)
    response = _post(client, ticket, run, body="Here is your invoice.", **seen)
    assert response.status_code == 200
    assert "send-guard" not in response.content.decode()
    assert _replies_out(acme) == ["carol@customer.test"]


def test_reply_without_page_state_is_not_checked(acme, ticket, run):
    # An older page (or another client) that carries no seen values posts as before.
    _customer_writes(acme, ticket)
    response = _post(acme.client(acme.agent), ticket, run, body="Here is your invoice.")
    assert response.status_code == 200
    assert _bodies(acme, ticket)[-1] == "Here is your invoice."


# -- Send anyway, Edit first ------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_send_anyway_sends(acme, ticket, run, htmx):
    client = acme.client(acme.agent)
    seen = _page_state(client, ticket)
    _customer_writes(acme, ticket)
    held = _post(client, ticket, run, htmx=htmx, body="Here is your invoice.", **seen)
    again = _seen(held.content.decode())
    response = _post(
        client, ticket, run, htmx=htmx, body="Here is your invoice.", confirm="1", **again
    )
    assert response.status_code == (200 if htmx else 302)
    assert _bodies(acme, ticket) == [
        "My invoice is missing.",
        "Also, the address is wrong.",
        "Here is your invoice.",
    ]
    assert _replies_out(acme) == ["carol@customer.test"]
    if htmx:
        # Undo and the debounce as for every reply.
        page = response.content.decode()
        assert "Sending in 2 min. Undo on the reply until then." in page
        assert "send-guard" not in page


def test_send_anyway_is_held_again_when_yet_another_entry_arrived(acme, ticket, run, bob):
    client = acme.client(acme.agent)
    seen = _page_state(client, ticket)
    _customer_writes(acme, ticket)
    again = _seen(_post(client, ticket, run, body="Invoice.", **seen).content.decode())
    _agent_writes(acme, ticket, bob, "I have sent it already.")
    response = _post(client, ticket, run, body="Invoice.", confirm="1", **again)
    assert response.status_code == 409
    assert "Bob Mulder replied" in _guard(response.content.decode())
    assert "Also, the address is wrong." not in _guard(response.content.decode())
    assert _replies_out(acme) == []


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_edit_first_gives_the_form_back_up_to_date(acme, ticket, run, htmx):
    client = acme.client(acme.agent)
    seen = _page_state(client, ticket)
    newer = _customer_writes(acme, ticket)
    held = _post(
        client, ticket, run, htmx=htmx, body="Here is your invoice.", cc="x@y.test", **seen
    )
    again = _seen(held.content.decode())
    data = {"body": "Here is your invoice.", "cc": "x@y.test", "edit_first": "1", **again}
    response = _post(client, ticket, run, htmx=htmx, **data)
    page = response.content.decode()
    assert response.status_code == 200
    assert _textarea(page) == "Here is your invoice."
    assert re.search(r'<input id="id_cc" name="cc"[^>]*value="([^"]*)"', page)[1] == "x@y.test"
    assert _seen(page)["seen_comment"] == str(newer.pk)
    assert "send-guard" not in page
    assert not _send_hidden(page)
    assert _bodies(acme, ticket) == ["My invoice is missing.", "Also, the address is wrong."]
    assert _replies_out(acme) == []


# -- bad input, other tenants -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seen_comment", "abc"),
        ("seen_comment", "-1"),
        ("seen_comment", "9" * 40),
        ("seen_comment", "1e3"),
        ("seen_requester", "0"),
        ("seen_requester", "x"),
    ],
)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_unreadable_page_state_is_a_clear_400(acme, ticket, run, field, value, htmx):
    client = acme.client(acme.agent)
    seen = {**_page_state(client, ticket), field: value}
    response = _post(client, ticket, run, htmx=htmx, body="Here is your invoice.", **seen)
    page = response.content.decode()
    assert response.status_code == 400
    assert re.findall(r'<div class="error" role="alert">([^<]*)</div>', page) == [
        html.escape(SEEN_MESSAGE)
    ]
    assert _textarea(page) == "Here is your invoice."
    assert _bodies(acme, ticket) == ["My invoice is missing."]


def test_reply_to_another_tenants_ticket_is_404(acme, globex, run):
    with acme.scope():
        make_ticket(acme.org)
        only_acme = make_ticket(acme.org, subject="Second")
    with globex.scope():
        make_ticket(globex.org)  # globex has a #1 too, not a #2
    client = globex.client(globex.agent)
    with run():
        response = client.post(
            f"/agent/tickets/{only_acme.number}/reply/",
            {"body": "Hi", "seen_comment": "1", "confirm": "1"},
        )
    assert response.status_code == 404
    with acme.scope():
        assert Comment.objects.filter(ticket=only_acme).count() == 1


def test_held_response_keeps_a_fixed_number_of_queries(acme, ticket, run, bob):
    """The held page shows its newer entries from the page's own prefetched comments."""
    client = acme.client(acme.agent)

    def held_queries(newer: int) -> int:
        seen = _page_state(client, ticket)
        for n in range(newer):
            _agent_writes(acme, ticket, bob, f"Answer {n}")
        with CaptureQueriesContext(connection) as queries:
            response = _post(client, ticket, run, body="x", **seen)
        assert response.status_code == 409
        return len(queries)

    assert held_queries(1) == held_queries(4)


# -- the check and the write under one lock ----------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_reply_committing_while_the_guard_waits_holds_the_other(acme, bob):
    """Bob's reply is being written (the ticket row locked) when the agent sends: the guard
    waits for the lock, then sees Bob's reply, and holds instead of sending across it."""
    with acme.scope():
        ticket = make_ticket(acme.org, body="My invoice is missing.")
        seen = Seen(comment_id=ticket.comments.get().pk, requester_id=ticket.requester_id)
    locked, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def bob_replies():
        try:
            with acme.scope(), transaction.atomic():
                outcome["bob"] = comment_create(
                    ticket=ticket, body_text="Mine.", author_user=bob
                ).pk
                locked.set()
                release.wait(timeout=20)
        finally:
            connections.close_all()

    def agent_sends():
        try:
            with acme.scope():
                reply_create_guarded(
                    ticket=ticket,
                    seen=seen,
                    author_user=acme.agent,
                    is_public=True,
                    body_text="Here it is.",
                )
            outcome["agent"] = "sent"
        except ReplyHeld as held:
            outcome["agent"] = held.newer
        finally:
            connections.close_all()

    first = threading.Thread(target=bob_replies)
    first.start()
    assert locked.wait(timeout=20)
    second = threading.Thread(target=agent_sends)
    second.start()
    _wait_for_a_lock_wait()
    release.set()
    first.join(timeout=30)
    second.join(timeout=30)
    assert outcome == {"bob": outcome["bob"], "agent": [outcome["bob"]]}
    assert _bodies(acme, ticket) == ["My invoice is missing.", "Mine."]


def _wait_for_a_lock_wait() -> None:
    """Until another session of this database waits on a row lock (the guard, on the ticket)."""
    for _ in range(2000):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        threading.Event().wait(0.01)
    raise AssertionError("the guard never waited for the ticket's lock")
