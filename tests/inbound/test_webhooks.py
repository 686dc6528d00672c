"""ESP inbound webhooks (django-anymail) on the platform host: verified, raw MIME stored."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from django.test import Client
from django_scopes import scopes_disabled

from inbound_mail import raw_mail
from inbound_mail.models import InboundMessage, UnclaimedMessage
from tests.inbound.mails import mail
from tickets.models import Ticket

SECRET = "esp:s3cret"
SIGNING_KEY = "mailgun-signing-key"


@pytest.fixture(autouse=True)
def _anymail(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [SECRET], "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


def _auth(credentials: str = SECRET) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials.encode()).decode()}


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    def _post(path, *, host="localhost", credentials=SECRET, **kwargs):
        client = Client(HTTP_HOST=host)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, **_auth(credentials), **kwargs)

    return _post


def _rows() -> list[tuple[int, str, str]]:
    with scopes_disabled():  # the test checks where rows landed across tenants
        return list(InboundMessage.objects.values_list("organization_id", "source", "sha256"))


def _mailgun_signature(timestamp: str, token: str, key: str = SIGNING_KEY) -> str:
    return hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


def _mailgun_fields(raw: bytes, recipient: str, key: str = SIGNING_KEY) -> dict:
    timestamp, token = str(int(time.time())), "a" * 50
    return {
        "body-mime": raw.decode(),
        "recipient": recipient,
        "sender": "carol@customer.test",
        "timestamp": timestamp,
        "token": token,
        "signature": _mailgun_signature(timestamp, token, key),
    }


def test_mailgun_raw_mime_is_stored_and_processed(support, post):
    _, globex = support
    # The envelope recipient routes, whatever To: says (Bcc'd support address).
    raw = mail(to="someone@customer.test", subject="Via Mailgun")
    response = post("/inbound/mailgun/", data=_mailgun_fields(raw, "help@globex.test"))
    assert response.status_code == 200
    assert _rows() == [(globex.org.pk, "webhook", raw_mail.digest(raw))]
    with globex.scope():
        assert list(Ticket.objects.values_list("subject", flat=True)) == ["Via Mailgun"]


def test_mailgun_wrong_signature_is_refused(support, post):
    fields = _mailgun_fields(mail(), "support@acme.test", key="not-the-key")
    assert post("/inbound/mailgun/", data=fields).status_code == 400
    assert _rows() == []


def test_postmark_raw_email_is_stored(support, post):
    acme, _ = support
    raw = mail(subject="Via Postmark")
    payload = {
        "RawEmail": raw.decode(),
        "OriginalRecipient": "support@acme.test",
        "Headers": [{"Name": "Return-Path", "Value": "<carol@customer.test>"}],
        "MessageID": "pm-1",
    }
    response = post("/inbound/postmark/", data=json.dumps(payload), content_type="application/json")
    assert response.status_code == 200
    assert _rows() == [(acme.org.pk, "webhook", raw_mail.digest(raw))]


def test_wrong_basic_auth_is_refused(support, post):
    payload = {"RawEmail": mail().decode(), "OriginalRecipient": "support@acme.test"}
    response = post(
        "/inbound/postmark/",
        credentials="esp:guess",
        data=json.dumps(payload),
        content_type="application/json",
    )
    assert (response.status_code, _rows()) == (400, [])


# anymail 15 still ships the SendGrid inbound view but warns that it is no longer supported.
@pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning")
def test_sendgrid_raw_mime_is_stored(support, post):
    acme, _ = support
    raw = mail(subject="Via SendGrid")
    envelope = json.dumps({"to": ["support@acme.test"], "from": "carol@customer.test"})
    response = post("/inbound/sendgrid/", data={"email": raw.decode(), "envelope": envelope})
    assert response.status_code == 200
    assert _rows() == [(acme.org.pk, "webhook", raw_mail.digest(raw))]


def _sns(ses_event: dict) -> tuple[str, dict]:
    body = {
        "Type": "Notification",
        "MessageId": "sns-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:inbound",
        "Message": json.dumps(ses_event),
        "Timestamp": "2025-03-03T10:00:00.000Z",
    }
    headers = {"HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification", "HTTP_X_AMZ_SNS_MESSAGE_ID": "sns-1"}
    return json.dumps(body), headers


def test_amazon_ses_sns_content_is_stored(support, post):
    acme, _ = support
    raw = mail(subject="Via SES")
    event = {
        "notificationType": "Received",
        "mail": {
            "source": "carol@customer.test",
            "messageId": "ses-1",
            "timestamp": "2025-03-03T10:00:00.000Z",
        },
        "receipt": {
            "recipients": ["support@acme.test"],
            "action": {"type": "SNS", "encoding": "BASE64"},
        },
        "content": base64.b64encode(raw).decode(),
    }
    body, headers = _sns(event)
    response = post(
        "/inbound/amazon_ses/", data=body, content_type="text/plain; charset=UTF-8", **headers
    )
    assert response.status_code == 200
    assert _rows() == [(acme.org.pk, "webhook", raw_mail.digest(raw))]


def test_unclaimed_webhook_mail_goes_to_platform_quarantine(support, post):
    raw = mail(to="stranger@unknown.test")
    response = post("/inbound/mailgun/", data=_mailgun_fields(raw, "stranger@unknown.test"))
    assert (response.status_code, _rows()) == (200, [])
    assert list(UnclaimedMessage.objects.values_list("envelope_recipients", flat=True)) == [
        ["stranger@unknown.test"]
    ]


def test_webhooks_refuse_to_run_without_a_secret(support, post, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [], "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    response = post("/inbound/mailgun/", data=_mailgun_fields(mail(), "support@acme.test"))
    assert (response.status_code, _rows()) == (503, [])


def test_webhooks_live_only_on_the_platform_host(support, post):
    response = post(
        "/inbound/mailgun/",
        host="acme.localhost",
        data=_mailgun_fields(mail(), "support@acme.test"),
    )
    assert (response.status_code, _rows()) == (404, [])
