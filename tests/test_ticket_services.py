import pytest

from tests.factories import make_ticket
from tickets import events, placeholders
from tickets.models import Comment, Customer, CustomerDomain, Status, TicketEvent
from tickets.sanitize import clean_html
from tickets.services.attachments import safe_filename
from tickets.services.comments import comment_create
from tickets.services.tickets import ticket_assign, ticket_change_status, ticket_change_team


@pytest.fixture
def heard():
    received = []
    names = [events.TICKET_CREATED, events.COMMENT_ADDED, events.STATUS_CHANGED, events.ASSIGNED]
    for name in names:
        events.subscribe(name, received.append)
    yield received
    for name in names:
        events.unsubscribe(name, received.append)


def test_ticket_create_records_everything(in_acme, heard, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ticket = make_ticket(in_acme.org, body="Line one\nLine two")
        assert heard == []  # nothing is heard before the transaction commits
    for callback in callbacks:
        callback()
    assert [e.name for e in heard] == [events.TICKET_CREATED]
    assert (ticket.number, ticket.status.category, ticket.priority.name) == (1, "new", "Normal")
    assert ticket.last_message_preview == "Line one"
    assert [e.kind for e in TicketEvent.objects.filter(ticket=ticket)] == ["created"]
    comment = Comment.objects.get(ticket=ticket)
    assert (comment.author_contact, comment.is_public) == (ticket.requester, True)
    assert comment.body_html == "<p>Line one<br>Line two</p>"


def test_customer_from_domain_mapping(in_acme):
    customer = Customer.objects.create(organization=in_acme.org, name="Northwind")
    CustomerDomain.objects.create(organization=in_acme.org, customer=customer, domain="nw.test")
    ticket = make_ticket(in_acme.org, email="Jo@NW.test")
    assert (ticket.requester.email, ticket.customer) == ("jo@nw.test", customer)


def test_first_public_agent_reply_sets_first_response(in_acme):
    ticket = make_ticket(in_acme.org)
    comment_create(ticket=ticket, body_text="note", is_public=False, author_user=in_acme.agent)
    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    comment_create(ticket=ticket, body_text="reply", author_user=in_acme.agent)
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None


def test_customer_reply_reopens_resolved_ticket(in_acme, heard):
    ticket = make_ticket(in_acme.org)
    resolved = Status.objects.get(name="Resolved")
    ticket_change_status(ticket=ticket, status=resolved, actor_user=in_acme.agent)
    ticket.refresh_from_db()
    assert ticket.resolved_at is not None
    comment_create(
        ticket=ticket,
        body_text="Still broken",
        author_contact=ticket.requester,
        channel=Comment.Channel.EMAIL,
    )
    ticket.refresh_from_db()
    assert (ticket.status.name, ticket.status_category, ticket.resolved_at) == (
        "Open",
        "open",
        None,
    )
    kinds = list(TicketEvent.objects.filter(ticket=ticket).values_list("kind", "data"))
    assert kinds[-1] == ("status", {"from": "Resolved", "to": "Open", "to_category": "open"})


def test_internal_note_from_agent_never_reopens(in_acme):
    ticket = make_ticket(in_acme.org)
    closed = Status.objects.get(name="Closed")
    ticket_change_status(ticket=ticket, status=closed, actor_user=in_acme.agent)
    comment_create(ticket=ticket, body_text="fyi", is_public=False, author_user=in_acme.agent)
    ticket.refresh_from_db()
    assert ticket.status_category == "closed"


def test_assign_and_team_write_timeline(in_acme):
    ticket = make_ticket(in_acme.org)
    ticket_assign(ticket=ticket, assignee=in_acme.agent, actor_user=in_acme.admin)
    ticket_assign(ticket=ticket, assignee=in_acme.agent, actor_user=in_acme.admin)
    ticket_change_team(ticket=ticket, team=in_acme.team, actor_user=in_acme.admin)
    rows = list(
        TicketEvent.objects.filter(ticket=ticket, kind__in=["assignee", "team"]).values_list(
            "kind", "data", "actor_user"
        )
    )
    assert rows == [
        ("assignee", {"from": "", "to": "Acme Agent"}, in_acme.admin.pk),
        ("team", {"from": "", "to": "Support"}, in_acme.admin.pk),
    ]


def test_canned_placeholders_fill_from_plain_values(in_acme):
    ticket = make_ticket(in_acme.org)
    text = placeholders.render_canned(
        "Hi {{ requester_name }}, #{{ticket_number}} {{ ticket.requester.delete }} {{ nope }}",
        ticket,
        in_acme.agent,
    )
    assert text == "Hi Carol, #1  "


def test_clean_html_strips_script_and_handlers():
    dirty = '<p onclick="x()">Hi<script>alert(1)</script><a href="javascript:alert(1)">l</a></p>'
    assert clean_html(dirty) == '<p>Hi<a rel="noopener noreferrer">l</a></p>'


def test_clean_html_keeps_data_urls_only_as_raster_images():
    dirty = (
        '<a href="data:text/html,<script>alert(1)</script>">x</a>'
        '<img src="data:image/png;base64,iVBORw0KGgo=">'
        '<img src="data:image/svg+xml;base64,PHN2Zz4=">'
        '<img src="cid:part1@mail">'
    )
    assert clean_html(dirty) == (
        '<a rel="noopener noreferrer">x</a><img src="data:image/png;base64,iVBORw0KGgo=">'
        '<img><img src="cid:part1@mail">'
    )


def test_clean_html_refuses_html_nested_too_deep_to_sanitise_in_time():
    assert clean_html("<div>" * 5000 + "x") == ""


def test_safe_filename():
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename('C:\\x\\"evil".txt') == "evil.txt"
    assert safe_filename("\x00") == "attachment"
