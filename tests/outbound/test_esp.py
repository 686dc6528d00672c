"""Sending through an ESP (Postmark via django-anymail) and its tracking webhooks.

The ESP's HTTP API is the only stand-in: a small HTTP server on loopback answering as Postmark's
`/email` endpoint does. Tracking webhooks are posted to anymail's real views on the platform host.
"""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from outbound_mail.services.notify import notify_event
from outbound_mail.services.sending import outgoing_send_due
from tests.factories import make_ticket
from tests.outbound.conftest import T0, rows
from tickets import events
from tickets.models import Contact

CAROL = "carol@customer.test"
HOOK_AUTH = "Basic " + base64.b64encode(b"hook:secret").decode()


class FakePostmark(ThreadingHTTPServer):
    """Answers POST /email like Postmark's API; `answers` queues (status, body) to give."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.answers: list[tuple[int, dict]] = []
        self.ids = iter(f"pm-{n}" for n in range(1, 1000))


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        server.requests.append(
            {"path": self.path, "token": self.headers["X-Postmark-Server-Token"], **body}
        )
        status, answer = server.answers.pop(0) if server.answers else (200, None)
        answer = answer or {
            "To": body["To"],
            "SubmittedAt": "2030-01-07T09:00:00Z",
            "MessageID": next(server.ids),
            "ErrorCode": 0,
            "Message": "OK",
        }
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def postmark(settings):
    server = FakePostmark()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "POSTMARK_SERVER_TOKEN": "server-token",
        "POSTMARK_API_URL": f"http://127.0.0.1:{server.server_port}/",
        "WEBHOOK_SECRET": "hook:secret",
    }
    yield server
    server.shutdown()
    server.server_close()


def confirm(tenant):
    with tenant.scope():
        with events.muted():
            ticket = make_ticket(tenant.org)
        notify_event(
            organization=tenant.org,
            name=events.TICKET_CREATED,
            ticket_id=ticket.pk,
            actor_user_id=None,
            data={"by_contact": True},
            now=T0,
        )
        outgoing_send_due(organization=tenant.org, now=T0)
    return rows(tenant, to_address=CAROL)[0]


def test_sending_through_the_esp_records_its_message_id(acme, postmark):
    row = confirm(acme)
    sent = [r for r in postmark.requests if r["To"] == "Carol <carol@customer.test>"]
    assert [(r["path"], r["token"], r["Subject"]) for r in sent] == [
        ("/email", "server-token", "Re: Printer on fire [#1]")
    ]
    headers = {h["Name"]: h["Value"] for h in sent[0]["Headers"]}
    assert (headers["Message-ID"], headers["Auto-Submitted"]) == (
        f"<{row.message_id}>",
        "auto-replied",
    )
    assert (sent[0]["TextBody"].split("\n")[0], "<html>" in sent[0]["HtmlBody"]) == (
        "Hello Carol,",
        True,
    )
    assert (row.status, row.provider_message_id, row.provider_response) == (
        "sent",
        row.provider_message_id,
        "accepted (sent)",
    )
    assert row.provider_message_id.startswith("pm-")


def test_esp_outage_is_retried_and_a_refused_recipient_fails(acme, postmark):
    postmark.answers = [(503, {"ErrorCode": 100, "Message": "Maintenance"})] * 3
    row = confirm(acme)
    assert (row.status, row.last_error.startswith("Attempt 1 failed, will retry:")) == (
        "pending",
        True,
    )
    postmark.answers = [
        (
            422,
            {
                "ErrorCode": 406,
                "Message": (
                    "You tried to send to a recipient that has been marked as inactive.\n "
                    "Found inactive addresses: carol@customer.test.\n Inactive recipients are "
                    "ones that have generated a hard bounce or a spam complaint. "
                ),
            },
        )
    ]
    with acme.scope():
        outgoing_send_due(organization=acme.org, now=row.send_after, ids=[row.pk])
    [row] = rows(acme, to_address=CAROL)
    assert (row.status, row.last_error.split("\n")[0]) == (
        "failed",
        "AnymailRecipientsRefused: All message recipients were rejected or invalid",
    )


def _hook(payload: dict):
    return Client(HTTP_HOST="localhost").post(
        "/tracking/postmark/",
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=HOOK_AUTH,
    )


def test_tracking_webhooks_update_the_row(acme, globex, postmark):
    row = confirm(acme)
    other = confirm(globex)
    delivered = {
        "RecordType": "Delivery",
        "MessageID": row.provider_message_id,
        "Recipient": CAROL,
        "DeliveredAt": "2030-01-07T09:01:00Z",
        "Details": "250 OK",
    }
    assert _hook(delivered).status_code == 200
    assert rows(acme, to_address=CAROL)[0].status == "delivered"
    bounced = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "MessageID": row.provider_message_id,
        "Email": CAROL,
        "BouncedAt": "2030-01-07T09:02:00Z",
        "ID": 42,
        "Description": "The server was unable to deliver your message.",
    }
    assert _hook(bounced).status_code == 200
    [row] = rows(acme, to_address=CAROL)
    with acme.scope():
        contact = Contact.objects.get(email=CAROL)
    assert (row.status, row.last_error) == (
        "bounced",
        "The server was unable to deliver your message.",
    )
    assert (contact.undeliverable, contact.undeliverable_reason) == (
        True,
        "bounced: The server was unable to deliver your message.",
    )
    # Globex's Carol is another contact, and its row another row: untouched.
    with globex.scope():
        assert Contact.objects.get(email=CAROL).undeliverable is False
    assert rows(globex, to_address=CAROL)[0].status == other.status == "sent"


def test_a_complaint_silences_the_contact(acme, postmark):
    row = confirm(acme)
    complaint = {
        "RecordType": "SpamComplaint",
        "Type": "SpamComplaint",
        "MessageID": row.provider_message_id,
        "Email": CAROL,
        "BouncedAt": "2030-01-07T09:05:00Z",
        "ID": 43,
        "Description": "",
    }
    assert _hook(complaint).status_code == 200
    with acme.scope():
        contact = Contact.objects.get(email=CAROL)
    assert (contact.undeliverable, contact.undeliverable_reason) == (
        True,
        "complained: the recipient asked for no more mail",
    )
    assert rows(acme, to_address=CAROL)[0].last_error == "The recipient complained."


def test_unsigned_webhooks_are_refused(acme, postmark):
    row = confirm(acme)
    response = Client(HTTP_HOST="localhost").post(
        "/tracking/postmark/",
        json.dumps({"RecordType": "Delivery", "MessageID": row.provider_message_id}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert rows(acme, to_address=CAROL)[0].status == "sent"
