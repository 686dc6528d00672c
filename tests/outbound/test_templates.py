"""Tenant templates: a sandbox that renders nothing dangerous, refused on save when broken."""

import html
import re

import pytest

from outbound_mail import rendering
from outbound_mail.kinds import TEMPLATE_KINDS
from outbound_mail.models import EmailTemplate
from outbound_mail.placeholders import sample_values
from outbound_mail.services.templates import template_save
from tests.factories import make_ticket
from tests.outbound.conftest import T0, parts
from tickets import events
from tickets.models import Ticket


def save(
    tenant,
    kind="new_ticket_confirmation",
    *,
    subject="Re: {{ ticket_subject }}",
    text="Hi",
    html_body="",
    enabled=True,
):
    with tenant.scope():
        return template_save(
            organization=tenant.org,
            kind=kind,
            subject=subject,
            body_text=text,
            body_html=html_body,
            enabled=enabled,
            user=tenant.admin,
            now=T0,
        )


@pytest.mark.parametrize("kind", TEMPLATE_KINDS)
def test_every_default_template_renders(kind):
    rendered = rendering.render(rendering.default_source(kind), sample_values(kind))
    assert (bool(rendered.subject), bool(rendered.body_text), bool(rendered.body_html)) == (
        True,
        True,
        True,
    )


def test_lookups_into_objects_render_nothing(acme, mailer, run):
    save(
        acme,
        text="A{{ ticket.delete }}B{{ organization.delete }}C{{ settings.SECRET_KEY }}"
        "D{{ requester_email.delete }}E{{ ticket_subject.upper }}",
    )
    with acme.scope(), run():
        make_ticket(acme.org)
    message = {m.rcpt_tos[0]: m.message for m in mailer.wait_for(3)}["carol@customer.test"]
    assert parts(message)["text/plain"] == "ABCDEPRINTER ON FIRE\n"
    with acme.scope():
        assert Ticket.objects.count() == 1


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("{% load i18n %}", "Invalid block tag on line 1: 'load'"),
        ('{% include "base.html" %}', "Invalid block tag on line 1: 'include'"),
        ('{% extends "base.html" %}', "Invalid block tag on line 1: 'extends'"),
        ("{% debug %}", "Invalid block tag on line 1: 'debug'"),
        ("{% url 'tickets:list' %}", "Invalid block tag on line 1: 'url'"),
        ("{% for c in ticket_subject %}{{ c }}{% endfor %}", "Invalid block tag on line 1: 'for'"),
        (
            "{% autoescape off %}{{ ticket_subject }}{% endautoescape %}",
            "Invalid block tag on line 1: 'autoescape'",
        ),
        ("{{ requester_name|safe }}", "Invalid filter: 'safe'"),
        ('{{ requester_name|ljust:"999999999" }}', "Invalid filter: 'ljust'"),
        ('{{ requester_name|center:"999999999" }}', "Invalid filter: 'center'"),
        (
            "{{ ticket_subject.__class__ }}",
            "Variables and attributes may not begin with underscores",
        ),
        ("Hello {% if requester_name %}{{ requester_name }}", "Unclosed tag on line 1: 'if'"),
    ],
)
def test_dangerous_or_broken_templates_are_refused_on_save(acme, source, complaint):
    with pytest.raises(rendering.TemplateError) as refused:
        save(acme, text=source)
    assert str(refused.value).startswith(f"Text: {complaint}")
    with acme.scope():
        assert EmailTemplate.objects.count() == 0


def test_what_customers_write_is_never_template_code(acme, mailer, run):
    with acme.scope(), run():
        make_ticket(acme.org, subject="{% debug %}{{ settings.SECRET_KEY }}", body="{{ 7|add:1 }}")
    message = {m.rcpt_tos[0]: m.message for m in mailer.wait_for(3)}["carol@customer.test"]
    assert message["Subject"] == "Re: {% debug %}{{ settings.SECRET_KEY }} [#1]"
    assert parts(message)["text/plain"].rstrip().endswith("{{ 7|add:1 }}")


def test_a_switched_off_template_sends_nothing(acme, mailer, run):
    save(acme, enabled=False)
    with acme.scope(), run():
        make_ticket(acme.org)
    assert sorted(m.rcpt_tos[0] for m in mailer.wait_for(2)) == [
        "admin@acme.test",
        "agent@acme.test",
    ]


def test_a_tenants_template_is_its_own(acme, globex, mailer, run):
    save(acme, text="Acme says hi")
    for tenant in (acme, globex):
        with tenant.scope(), run():
            make_ticket(tenant.org)
    texts = {
        m.mail_from: parts(m.message)["text/plain"].split("\n")[0]
        for m in mailer.wait_for(6)
        if m.rcpt_tos == ["carol@customer.test"]
    }
    assert texts == {"support@acme.test": "Acme says hi", "support@globex.test": "Hello Carol,"}
    with globex.scope():
        assert EmailTemplate.objects.count() == 0


# -- the editor ----------------------------------------------------------------------------------


def _admin(tenant):
    return tenant.client(tenant.admin)


def test_editor_lists_placeholders_and_refuses_a_broken_template(acme):
    client = _admin(acme)
    page = client.get("/settings/templates/assignment/").content.decode()
    names = re.findall(r"<dt><code>\{\{ (\w+) \}\}</code></dt>", page)
    assert names[:3] == ["organization_name", "ticket_number", "ticket_subject"]
    assert ("ticket_url" in names, "sla_due_at" in names) == (True, False)
    response = client.post(
        "/settings/templates/assignment/",
        {"subject": "Assigned", "body_text": "{% if x %}never closed", "enabled": "on"},
    )
    assert response.status_code == 400
    errors = re.findall(r'<div class="error" role="alert">(.*?)</div>', response.content.decode())
    assert [html.unescape(e) for e in errors] == [
        "This template cannot be used. Text: Unclosed tag on line 1: 'if'. Looking for one of: "
        "elif, else, endif."
    ]
    with acme.scope():
        assert EmailTemplate.objects.count() == 0


def test_editor_saves_and_resets(acme):
    client = _admin(acme)
    data = {"subject": "New: {{ ticket_subject }}", "body_text": "Look", "body_html": ""}
    assert client.post("/settings/templates/new_ticket_alert/", data).status_code == 302
    with acme.scope():
        row = EmailTemplate.objects.get()
        assert (row.kind, row.subject, row.enabled, row.updated_by) == (
            "new_ticket_alert",
            "New: {{ ticket_subject }}",
            False,
            acme.admin,
        )
    client.post("/settings/templates/new_ticket_alert/reset/")
    with acme.scope():
        assert EmailTemplate.objects.count() == 0


def test_preview_renders_a_real_ticket_in_a_sandboxed_frame(acme, globex):
    with acme.scope(), events.muted():
        make_ticket(acme.org, subject="<b>Bold</b> printer")
    with globex.scope(), events.muted():
        make_ticket(globex.org)
        make_ticket(globex.org, subject="Globex only")  # number 2 exists only in globex
    client = _admin(acme)
    data = {
        "subject": "Re: {{ ticket_subject }}",
        "body_text": "Hi {{ requester_name }}",
        "body_html": "<p>Hi {{ requester_name }}: {{ ticket_subject }}</p>",
        "ticket": "1",
    }
    page = client.post("/settings/templates/new_ticket_confirmation/preview/", data)
    text = page.content.decode()
    assert re.findall(r"<strong>Subject:</strong> (.*?)</p>", text) == [
        "Re: &lt;b&gt;Bold&lt;/b&gt; printer [#1]"
    ]
    frame = re.search(
        r'<iframe class="mail-preview" title="HTML preview" sandbox srcdoc="([^"]*)"', text
    )
    assert "<p>Hi Carol: &lt;b&gt;Bold&lt;/b&gt; printer</p>" in html.unescape(frame.group(1))
    other = client.post(
        "/settings/templates/new_ticket_confirmation/preview/", {**data, "ticket": "2"}
    )
    assert "There is no ticket to preview with yet." in other.content.decode()


def test_template_pages_are_for_admins_only(acme, globex):
    agent = acme.client(acme.agent)
    for url in (
        "/settings/templates/",
        "/settings/templates/agent_reply/",
        "/settings/email/",
        "/settings/branding/",
        "/settings/notifications/",
    ):
        assert (url, agent.get(url).status_code) == (url, 404)
        assert (url, acme.client(globex.admin).get(url).status_code) == (url, 404)
        assert (url, _admin(acme).get(url).status_code) == (url, 200)
    assert _admin(acme).get("/settings/templates/nope/").status_code == 404


def test_preview_of_a_template_that_only_real_values_take_past_a_limit_says_why(acme):
    with acme.scope(), events.muted():
        make_ticket(acme.org, subject="s" * 300)  # sample values are far shorter
    quadruple = "{% with s=s|add:s|add:s|add:s %}"
    body = "{% with s=ticket_subject %}" + quadruple * 6 + "{{ s }}" + "{% endwith %}" * 7
    data = {
        "subject": "Re: {{ ticket_subject }}",
        "body_text": body,
        "body_html": "",
        "ticket": "1",
    }
    page = _admin(acme).post("/settings/templates/new_ticket_confirmation/preview/", data)
    assert page.status_code == 200
    errors = re.findall(r'<div class="error" role="alert">(.*?)</div>', page.content.decode())
    assert len(errors) == 1
    assert errors[0].startswith("This ticket cannot be previewed: ")
