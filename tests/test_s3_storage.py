"""Attachments and raw mail in S3 storage (moto's server on loopback) through django-storages."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from inbound_mail.models import InboundMessage
from inbound_mail.services.intake import inbound_receive
from tests.factories import make_ticket
from tickets.models import Attachment


@pytest.fixture
def s3_storage(settings, s3_peer):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": s3_peer.storage_options(),
        },
    }
    return s3_peer


def _keys(peer) -> set[str]:
    listing = peer.client().list_objects_v2(Bucket=peer.bucket)
    return {item["Key"] for item in listing.get("Contents", [])}


def test_attachment_is_stored_in_s3_and_served_through_the_access_check(acme, globex, s3_storage):
    content = b"quarterly numbers " + acme.org.slug.encode() + b" s3"
    with acme.scope():
        ticket = make_ticket(acme.org)
    response = acme.client(acme.agent).post(
        f"/agent/tickets/{ticket.number}/reply/",
        {"body": "see file", "attachments": SimpleUploadedFile("q3.csv", content, "text/csv")},
    )
    assert response.status_code == 302
    digest = hashlib.sha256(content).hexdigest()
    assert f"orgs/{acme.org.pk}/attachments/{digest[:2]}/{digest}" in _keys(s3_storage)
    with acme.scope():
        attachment = Attachment.objects.get(filename="q3.csv")
    url = f"/agent/tickets/{ticket.number}/attachments/{attachment.pk}/"
    download = acme.client(acme.agent).get(url)
    assert b"".join(download.streaming_content) == content
    assert acme.client(globex.agent).get(url).status_code == 404


def test_raw_mail_is_stored_in_s3_and_processed_from_there(
    acme, s3_storage, django_capture_on_commit_callbacks
):
    from inbound_mail.models import InboundAddress

    with acme.scope():
        InboundAddress.objects.create(
            organization=acme.org, address="help@acme.test", is_default=True
        )
    raw = (
        b"From: Dora <dora@customer.test>\r\nTo: help@acme.test\r\n"
        b"Subject: Stored in S3\r\nMessage-ID: <s3-raw-1@customer.test>\r\n\r\nHello\r\n"
    )
    with django_capture_on_commit_callbacks(execute=True):  # processing reads it back from S3
        inbound_receive(raw=raw, source="command")
    digest = hashlib.sha256(raw).hexdigest()
    assert any(key.endswith(digest) for key in _keys(s3_storage))
    with acme.scope():
        row = InboundMessage.objects.select_related("ticket").get(sha256=digest)
    assert (row.status, row.ticket.subject) == ("processed", "Stored in S3")
