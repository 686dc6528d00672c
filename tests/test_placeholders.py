"""One placeholder syntax and one list: canned responses and mail templates both say
`{{ requester_name }}`, render in the same sandbox to the same values, and document the same
list; canned responses written the old way (`{{ requester.name }}`) are migrated."""

import importlib
import json
import re

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from outbound_mail import placeholders as mail_placeholders
from outbound_mail import rendering
from outbound_mail.kinds import Kind
from tests.factories import make_ticket
from tickets import placeholders
from tickets.models import CannedResponse, Ticket
from tickets.services.tickets import ticket_assign, ticket_change_team

MIGRATION = importlib.import_module("tickets.migrations.0007_i10_image_senders_placeholders")
OLD = (
    "Hi {{ requester.name }} ({{requester.email}}), #{{ ticket.number }} “{{ ticket.subject }}” "
    "is {{ ticket.status }}/{{ ticket.priority }}. — {{ agent.name }} <{{ agent.email }}>, "
    "{{ organization.name }}. {{ ticket.requester.delete }} {{ customer.name }} {{ nope }} {% x %}"
)
NEW = (
    "Hi {{ requester_name }} ({{ requester_email }}), #{{ ticket_number }} “{{ ticket_subject }}” "
    "is {{ ticket_status }}/{{ ticket_priority }}. — {{ agent_name }} <{{ agent_email }}>, "
    "{{ organization_name }}. {{ ticket.requester.delete }} {{ customer.name }} {{ nope }} {% x %}"
)


def test_migration_rewrites_every_old_placeholder_and_keeps_other_text():
    assert MIGRATION.rewrite(OLD) == NEW
    assert MIGRATION.rewrite(NEW) == NEW  # idempotent
    # Every old name the canned responses knew is rewritten to a name the new list has.
    names = {p.name for p in placeholders.CANNED}
    assert set(MIGRATION.OLD_TO_NEW.values()) <= names


@pytest.mark.django_db(transaction=True)
def test_migration_rewrites_old_canned_rows_of_every_tenant(acme, globex):
    with acme.scope():
        old = CannedResponse.objects.create(organization=acme.org, name="Old", body=OLD)
        plain = CannedResponse.objects.create(organization=acme.org, name="Plain", body="Thanks!")
    with globex.scope():
        theirs = CannedResponse.objects.create(
            organization=globex.org, name="G", body="Dear {{ requester.name }}"
        )
    state = MigrationExecutor(connection).loader.project_state(
        ("tickets", "0007_i10_image_senders_placeholders")
    )
    MIGRATION.rewrite_canned_responses(state.apps, None)
    with acme.scope():
        bodies = dict(CannedResponse.objects.values_list("pk", "body"))
    with globex.scope():
        theirs_body = CannedResponse.objects.get(pk=theirs.pk).body
    assert (bodies[old.pk], bodies[plain.pk], theirs_body) == (
        NEW,
        "Thanks!",
        "Dear {{ requester_name }}",
    )


@pytest.fixture
def assigned_ticket(in_acme):
    ticket = make_ticket(in_acme.org, subject="Printer <on> fire & smoke")
    ticket_assign(ticket=ticket, assignee=in_acme.agent, actor_user=in_acme.admin)
    ticket_change_team(ticket=ticket, team=in_acme.team, actor_user=in_acme.admin)
    return Ticket.objects.select_related(
        "status", "priority", "assignee", "team", "requester", "organization"
    ).get(pk=ticket.pk)


def test_canned_response_and_mail_template_fill_a_placeholder_alike(in_acme, assigned_ticket):
    ticket = assigned_ticket
    mail_values = mail_placeholders.preview_values(Kind.AGENT_REPLY, ticket, in_acme.agent)
    for placeholder in placeholders.SHARED:
        source = "{{ " + placeholder.name + " }}"
        canned = placeholders.render_canned(source, ticket, in_acme.agent)
        mail = rendering.render(rendering.Source("s", source, ""), mail_values).body_text
        assert (placeholder.name, canned) == (placeholder.name, mail)
    canned = placeholders.render_canned(
        "{{ requester_name }}|{{ ticket_subject }}|{{ assignee_name }}|{{ team_name }}|"
        "{{ agent_name }}|{{ agent_email }}|{{ ticket.requester.delete }}|{{ nope }}",
        ticket,
        in_acme.agent,
    )
    # Text, not HTML: inserted into the reply box as written; no object to reach into.
    assert canned == (
        "Carol|Printer <on> fire & smoke|Acme Agent|Support|Acme Agent|agent@acme.test||"
    )


def test_canned_response_renders_within_the_sandbox(in_acme, assigned_ticket):
    ticket = assigned_ticket
    assert (
        placeholders.render_canned(
            "{% if team_name %}Team {{ team_name|upper }}{% endif %}", ticket
        )
        == "Team SUPPORT"
    )
    # What a mail template may not do, a canned response may not either; a row saved before
    # the sandbox that does not render is inserted as written.
    for source in ("{% load static %}", "{% for x in y %}{% endfor %}", "{{ x|safe }}"):
        assert placeholders.render_canned(source, ticket) == source


def test_canned_endpoint_fills_new_placeholders(acme, globex):
    with acme.scope():
        ticket = make_ticket(acme.org)
        canned = CannedResponse.objects.create(
            organization=acme.org, name="Hi", body="Hi {{ requester_name }}, #{{ ticket_number }}"
        )
    client = acme.client(acme.agent)
    response = client.get(f"/agent/tickets/{ticket.number}/canned/{canned.pk}/")
    assert json.loads(response.content) == {"name": "Hi", "body": "Hi Carol, #1"}
    other = globex.client(globex.agent)
    assert other.get(f"/agent/tickets/{ticket.number}/canned/{canned.pk}/").status_code == 404


def test_saving_a_canned_response_that_does_not_render_is_refused(acme):
    client = acme.client(acme.admin)
    response = client.post("/settings/canned/", {"name": "Bad", "body": "{% load static %}"})
    assert response.status_code == 400
    assert "load" in response.content.decode()
    with acme.scope():
        assert CannedResponse.objects.count() == 0
    client.post("/settings/canned/", {"name": "Good", "body": "Hi {{ requester_name }}"})
    with acme.scope():
        assert list(CannedResponse.objects.values_list("body", flat=True)) == [
            "Hi {{ requester_name }}"
        ]


def _shared_table(html: str) -> str:
    found = re.findall(
        r'<table class="data placeholders" id="shared-placeholders">.*?</table>', html, re.S
    )
    assert len(found) == 1
    return found[0]


def test_both_settings_pages_document_the_same_list(acme):
    client = acme.client(acme.admin)
    canned = _shared_table(client.get("/settings/canned/").content.decode())
    mail = _shared_table(client.get("/settings/templates/").content.decode())
    assert canned == mail
    names = re.findall(r"<code>\{\{ (\w+) \}\}</code>", canned)
    assert names == [p.name for p in placeholders.SHARED]
    assert "requester_name" in names
    # Every mail kind offers the shared list; its own come on top.
    for kind, offered in mail_placeholders.BY_KIND.items():
        assert [p.name for p in offered[: len(placeholders.SHARED)]] == names, kind
