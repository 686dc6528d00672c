"""ESP tracking webhooks refuse what an attacker can post: no secret configured, wrong
credentials, bodies that are not what the ESP sends, events naming mail another ESP (or SMTP)
sent. Posted to the real views on the platform host, as tests/outbound/test_esp.py does."""

import hashlib
import hmac
import json

import pytest
from django.test import Client

from outbound_mail.models import OutgoingMessage
from tests.outbound.conftest import rows
from tests.outbound.test_esp import CAROL, HOOK_AUTH, confirm, postmark  # noqa: F401  # fixture
from tickets.models import Contact

BOUNCE = {
    "RecordType": "Bounce",
    "Type": "HardBounce",
    "Email": CAROL,
    "BouncedAt": "2030-01-07T09:02:00Z",
    "ID": 42,
    "Description": "The server was unable to deliver your message.",
}


def post(esp: str, body, *, auth: str | None = HOOK_AUTH, content_type="application/json"):
    client = Client(HTTP_HOST="localhost", raise_request_exception=False)
    extra = {"HTTP_AUTHORIZATION": auth} if auth else {}
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(f"/tracking/{esp}/", data, content_type=content_type, **extra)


def set_esp(tenant, row, esp_name: str, **values) -> None:
    with tenant.scope():
        OutgoingMessage.objects.filter(pk=row.pk).update(esp_name=esp_name, **values)


def state(tenant) -> tuple[str, str, bool]:
    [row] = rows(tenant, to_address=CAROL)
    with tenant.scope():
        contact = Contact.objects.get(email=CAROL)
    return row.status, row.last_error, contact.undeliverable


def test_a_sent_row_records_the_esp_that_accepted_it(acme, postmark):  # noqa: F811
    row = confirm(acme)
    assert (row.status, row.esp_name, row.provider_message_id.startswith("pm-")) == (
        "sent",
        "Postmark",
        True,
    )


def test_without_a_secret_a_forged_bounce_is_refused_and_changes_nothing(
    acme,
    postmark,  # noqa: F811
    settings,
):
    row = confirm(acme)
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": []}
    response = post("postmark", {**BOUNCE, "MessageID": row.provider_message_id}, auth=None)
    assert (response.status_code, response.content) == (
        503,
        b"tracking webhooks need ANYMAIL_WEBHOOK_SECRET",
    )
    assert state(acme) == ("sent", "", False)


@pytest.mark.parametrize("esp", ["postmark", "sendgrid", "amazon_ses", "mailgun"])
def test_every_tracking_webhook_refuses_without_a_secret(esp, db, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": []}
    assert post(esp, {}, auth=None).status_code == 503


def test_mailgun_refuses_without_its_signing_key(db, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": "hook:secret"}
    settings.ANYMAIL.pop("MAILGUN_WEBHOOK_SIGNING_KEY", None)
    response = post("mailgun", {})
    assert (response.status_code, response.content) == (
        503,
        b"Mailgun needs MAILGUN_WEBHOOK_SIGNING_KEY",
    )


@pytest.mark.parametrize("auth", [None, "Basic aG9vazp3cm9uZw==", "Bearer secret", "Basic %%%"])
def test_wrong_credentials_are_refused(acme, postmark, auth):  # noqa: F811
    row = confirm(acme)
    response = post("postmark", {**BOUNCE, "MessageID": row.provider_message_id}, auth=auth)
    assert response.status_code == 400
    assert state(acme) == ("sent", "", False)


def _mailgun_event(message_id: str, key: str) -> dict:
    token, timestamp = "t" * 50, "1893920400"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"token": token, "timestamp": timestamp, "signature": signature},
        "event-data": {
            "event": "failed",
            "severity": "permanent",
            "timestamp": 1893920400.0,
            "id": "ev-1",
            "recipient": CAROL,
            "message": {"headers": {"message-id": message_id}},
            "delivery-status": {"description": "No such user", "message": "550 No such user"},
        },
    }


def test_mailgun_checks_its_signature(acme, postmark, settings):  # noqa: F811
    row = confirm(acme)
    # Mailgun's API answers with the Message-ID in angle brackets; its events name it bare.
    set_esp(acme, row, "Mailgun", provider_message_id="<mg-1@mg.test>")
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_SIGNING_KEY": "signing-key"}
    forged = _mailgun_event("mg-1@mg.test", "guessed-key")
    assert post("mailgun", forged).status_code == 400
    assert state(acme) == ("sent", "", False)
    genuine = _mailgun_event("mg-1@mg.test", "signing-key")
    assert post("mailgun", genuine).status_code == 200
    assert state(acme) == ("bounced", "No such user", True)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        b"\xff\xfe not utf-8",
        "[1, 2]",
        "3",
        '"text"',
        "{}",
        '{"RecordType": "Bounce"}',
        '{"RecordType": "Delivery", "MessageID": ["pm-1"]}',
        '{"RecordType": "Delivery", "MessageID": {"a": 1}}',
        '{"RecordType": "Bounce", "MessageID": "pm-1", "Type": [1]}',
        '{"RecordType": "Delivery", "MessageID": "pm-1", "DeliveredAt": 5}',
    ],
)
def test_malformed_bodies_are_a_400(acme, postmark, body):  # noqa: F811
    confirm(acme)
    assert post("postmark", body).status_code == 400
    assert state(acme) == ("sent", "", False)


@pytest.mark.parametrize(
    ("esp", "body"),
    [
        ("sendgrid", '{"event": "bounce"}'),
        ("sendgrid", "[1]"),
        ("sendgrid", '[{"event": "bounce", "timestamp": "soon"}]'),
        ("mailgun", '{"signature": 5}'),
        ("mailgun", "[]"),
        ("amazon_ses", "nope"),
        ("amazon_ses", "[]"),
    ],
)
def test_malformed_bodies_are_a_400_for_every_esp(esp, body, db, settings):
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "WEBHOOK_SECRET": "hook:secret",
        "MAILGUN_WEBHOOK_SIGNING_KEY": "signing-key",
    }
    extra = {"HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification"} if esp == "amazon_ses" else {}
    client = Client(HTTP_HOST="localhost", raise_request_exception=False)
    response = client.post(
        f"/tracking/{esp}/",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=HOOK_AUTH,
        **extra,
    )
    assert response.status_code == 400


def test_a_huge_body_is_a_400(acme, postmark):  # noqa: F811
    row = confirm(acme)
    huge = {**BOUNCE, "MessageID": row.provider_message_id, "Description": "x" * 2_000_000}
    assert post("postmark", huge).status_code == 400
    assert state(acme) == ("sent", "", False)


def test_an_event_for_mail_another_esp_sent_is_ignored(acme, postmark):  # noqa: F811
    row = confirm(acme)
    set_esp(acme, row, "SendGrid")
    response = post("postmark", {**BOUNCE, "MessageID": row.provider_message_id})
    assert response.status_code == 200
    assert state(acme) == ("sent", "", False)


def test_an_event_for_mail_sent_over_smtp_is_ignored(acme, postmark):  # noqa: F811
    row = confirm(acme)
    # As an SMTP row would be, should its server's queue id ever be stored as the message id.
    set_esp(acme, row, "")
    response = post("postmark", {**BOUNCE, "MessageID": row.provider_message_id})
    assert response.status_code == 200
    assert state(acme) == ("sent", "", False)


def test_a_genuine_event_is_recorded(acme, globex, postmark):  # noqa: F811
    row = confirm(acme)
    other = confirm(globex)
    response = post("postmark", {**BOUNCE, "MessageID": row.provider_message_id})
    assert response.status_code == 200
    assert state(acme) == ("bounced", "The server was unable to deliver your message.", True)
    assert state(globex) == (other.status, "", False) == ("sent", "", False)
