"""What arrives at a real SMTP server: headers, both parts, attachments, branding."""

import re

from django.core.files.base import ContentFile

from outbound_mail.models import OutgoingMessage
from outbound_mail.services.templates import branding_save
from tests.factories import make_ticket
from tests.outbound.conftest import parts, rows, set_debounce
from tickets.mail_tokens import make_token, ticket_from_message_id
from tickets.services.attachments import Upload
from tickets.services.comments import comment_create
from tickets.services.contacts import contact_get_or_create
from tickets.services.tickets import collaborator_add, ticket_create

CONFIRMATION_TEXT = """Hello Carol,

Thank you for contacting Acme. We have received your request and opened ticket #1. We will \
get back to you as soon as we can.

To add anything, reply to this email.

Your message:

Help!
"""

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _by_rcpt(peer, n):
    return {m.rcpt_tos[0]: m.message for m in peer.wait_for(n)}


def test_confirmation_headers_and_both_parts(acme, mailer, run):
    with acme.scope(), run():
        ticket = make_ticket(acme.org, message_id="m1@customer.test")
    message = _by_rcpt(mailer, 3)["carol@customer.test"]
    [row] = rows(acme, kind="new_ticket_confirmation")
    token = make_token(acme.org.pk, ticket.pk)
    headers = {
        name: str(message[name])
        for name in (
            "Subject",
            "From",
            "To",
            "Reply-To",
            "Message-ID",
            "In-Reply-To",
            "References",
            "Auto-Submitted",
            "X-Auto-Response-Suppress",
        )
    }
    assert headers == {
        "Subject": "Re: Printer on fire [#1]",
        "From": "Acme <support@acme.test>",
        "To": "Carol <carol@customer.test>",
        "Reply-To": f"support+{token}@acme.test",
        "Message-ID": f"<{row.message_id}>",
        "In-Reply-To": "<m1@customer.test>",
        "References": "<m1@customer.test>",
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",
    }
    assert ticket_from_message_id(row.message_id) == (acme.org.pk, ticket.pk)
    types = [p.get_content_type() for p in message.walk()]
    assert types == ["multipart/alternative", "text/plain", "text/html"]
    body = parts(message)
    assert body["text/plain"] == CONFIRMATION_TEXT
    assert re.search(r"opened ticket <strong>#1</strong>", body["text/html"]) is not None
    assert (row.status, row.attempts, row.provider_response) == (
        "sent",
        1,
        "250 2.0.0 Message accepted for delivery",
    )


def test_agent_reply_threads_and_carries_attachments(acme, mailer, run):
    set_debounce(acme, 0)
    with acme.scope():
        with run():
            ticket = make_ticket(acme.org, message_id="m1@customer.test")
        collaborator = contact_get_or_create(organization=acme.org, email="dan@c.test")
        collaborator_add(ticket=ticket, contact=collaborator)
        mailer.clear()
        with run():
            comment_create(
                ticket=ticket,
                body_text="The fire brigade is on its way.",
                author_user=acme.agent,
                send_now=True,
                uploads=[Upload(filename="plan.pdf", content=b"%PDF-1.4 plan")],
            )
    received = _by_rcpt(mailer, 2)
    confirmation = rows(acme, kind="new_ticket_confirmation")[0]
    carol, dan = rows(acme, kind="agent_reply")
    message = received["carol@customer.test"]
    assert (message["In-Reply-To"], message["References"]) == (
        "<m1@customer.test>",
        f"<m1@customer.test> <{confirmation.message_id}>",
    )
    assert (message["Message-ID"], message["Auto-Submitted"]) == (f"<{carol.message_id}>", None)
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/pdf",
    ]
    attachment = next(message.iter_attachments())
    assert (attachment.get_filename(), attachment.get_content()) == ("plan.pdf", b"%PDF-1.4 plan")
    text = parts(message)["text/plain"]
    assert text.splitlines()[:3] == ["The fire brigade is on its way.", "", "— Acme Agent"]
    # The collaborator's copy is its own message, threaded only to what they received.
    assert received["dan@c.test"]["Message-ID"] == f"<{dan.message_id}>"
    assert received["dan@c.test"]["References"] == "<m1@customer.test>"
    assert carol.message_id != dan.message_id


def test_branding_goes_into_every_mail(acme, mailer, run):
    org = acme.org
    branding_save(
        organization=org,
        accent_color="#aa3300",
        sender_name="Acme Support",
        footer_text="Acme Inc., 1 Road Runner Way",
        logo=ContentFile(PNG, name="logo.png"),
    )
    with acme.scope(), run():
        make_ticket(org)
    received = _by_rcpt(mailer, 3)
    assert set(received) == {"carol@customer.test", "admin@acme.test", "agent@acme.test"}
    for message in received.values():
        body = parts(message)
        assert message["From"] == "Acme Support <support@acme.test>"
        assert body["text/plain"].endswith("\n\n-- \nAcme Inc., 1 Road Runner Way\n")
        logo = re.search(r'<img src="([^"]+)"', body["text/html"]).group(1)
        assert logo.startswith("http://acme.localhost:8000/brand/logo?v=")
        assert "border-top: 4px solid #aa3300" in body["text/html"]
        assert "Acme Inc., 1 Road Runner Way" in body["text/html"]


def test_logo_is_served_to_mail_clients_per_tenant(acme, globex):
    acme.org.logo.save("logo.png", ContentFile(PNG), save=True)
    response = acme.client().get("/brand/logo")
    assert (response.status_code, response["Content-Type"]) == (200, "image/png")
    assert b"".join(response.streaming_content) == PNG
    assert globex.client().get("/brand/logo").status_code == 404


def test_customer_values_are_escaped_in_html(acme, mailer, run):
    with acme.scope(), run():
        make_ticket(acme.org, subject="<script>alert(1)</script>", body="<b>bold</b> & more")
    message = _by_rcpt(mailer, 3)["carol@customer.test"]
    html = parts(message)["text/html"]
    assert "<script>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in html  # the text body, escaped by text_to_html
    assert message["Subject"] == "Re: <script>alert(1)</script> [#1]"


def test_subject_newlines_cannot_inject_headers(acme, mailer, run):
    with acme.scope(), run():
        make_ticket(acme.org, subject="Hi\r\nBcc: victim@evil.test")
    message = _by_rcpt(mailer, 3)["carol@customer.test"]
    assert (message["Subject"], message["Bcc"]) == ("Re: Hi Bcc: victim@evil.test [#1]", None)


def test_platform_connection_without_own_smtp(acme, settings, smtp_peer, run):
    """No SMTP server of its own: the platform's (Django's SMTP settings) carries the mail."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = smtp_peer.host, smtp_peer.port
    settings.DEFAULT_FROM_EMAIL = "Helpdesk <helpdesk@platform.test>"
    with acme.scope(), run():
        make_ticket(acme.org)
    message = _by_rcpt(smtp_peer, 3)["carol@customer.test"]
    assert (message["From"], smtp_peer.messages[0].mail_from) == (
        "Acme <helpdesk@platform.test>",
        "helpdesk@platform.test",
    )


def test_platform_backend_locmem_records_sent(acme, run):
    """Any Django backend works as the platform connection (here the test suite's locmem)."""
    from django.core import mail

    with acme.scope(), run():
        make_ticket(acme.org)
    assert sorted(m.to[0] for m in mail.outbox) == [
        "Acme Agent <agent@acme.test>",
        "Carol <carol@customer.test>",
        "admin <admin@acme.test>",
    ]
    assert {r.status for r in rows(acme)} == {OutgoingMessage.Status.SENT}


def test_a_ticket_an_agent_opens_mails_its_first_message_to_the_customer(acme, mailer, run):
    with acme.scope(), run():
        requester = contact_get_or_create(organization=acme.org, email="dan@c.test")
        ticket_create(
            organization=acme.org,
            subject="Your phone call",
            requester=requester,
            body_text="As discussed, we replace the toner.",
            actor_user=acme.agent,
        )
    [row] = rows(acme, to_address="dan@c.test")
    assert (row.kind, row.status, row.automatic) == ("agent_reply", "pending", False)
    assert row.body_text.split("\n\n")[:2] == [
        "As discussed, we replace the toner.",
        "— Acme Agent",
    ]
    assert sorted(r.to_address for r in rows(acme, kind="new_ticket_alert")) == ["admin@acme.test"]
