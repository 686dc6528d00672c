import hashlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import make_ticket
from tickets.models import Attachment
from tickets.services.attachments import Upload, attachment_store

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def ticket(acme):
    with acme.scope():
        return make_ticket(acme.org)


def _upload(acme, ticket, name, content, content_type):
    client = acme.client(acme.agent)
    response = client.post(
        f"/agent/tickets/{ticket.number}/reply/",
        {"body": "file attached", "attachments": SimpleUploadedFile(name, content, content_type)},
    )
    assert response.status_code == 302
    with acme.scope():
        return Attachment.objects.get(filename=name)


def test_upload_is_stored_under_the_tenant_prefix(acme, ticket):
    attachment = _upload(acme, ticket, "report.pdf", b"%PDF-1.4 data", "application/pdf")
    assert attachment.file.name.startswith(f"orgs/{acme.org.pk}/attachments/")
    assert (attachment.size, attachment.content_type) == (13, "application/pdf")
    assert attachment.sha256 == hashlib.sha256(b"%PDF-1.4 data").hexdigest()
    assert default_storage.open(attachment.file.name).read() == b"%PDF-1.4 data"


def test_download_forces_attachment_for_unsafe_types(acme, ticket):
    attachment = _upload(acme, ticket, "x.html", b"<script>alert(1)</script>", "text/html")
    response = acme.client(acme.agent).get(f"/agent/tickets/1/attachments/{attachment.pk}/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="x.html"'
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"


def test_svg_is_never_inline(acme, ticket):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    attachment = _upload(acme, ticket, "logo.svg", svg, "image/svg+xml")
    response = acme.client(acme.agent).get(f"/agent/tickets/1/attachments/{attachment.pk}/")
    assert response["Content-Disposition"].startswith("attachment;")


def test_safe_image_is_shown_inline(acme, ticket):
    attachment = _upload(acme, ticket, "dot.png", PNG, "image/png")
    response = acme.client(acme.agent).get(f"/agent/tickets/1/attachments/{attachment.pk}/")
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'inline; filename="dot.png"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_download_needs_a_member(acme, globex, ticket):
    attachment = _upload(acme, ticket, "a.txt", b"secret", "text/plain")
    url = f"/agent/tickets/1/attachments/{attachment.pk}/"
    assert acme.client().get(url).status_code == 302  # anonymous: to the login page
    assert acme.client(globex.agent).get(url).status_code == 404  # member elsewhere


def test_identical_content_is_stored_once(acme, ticket):
    with acme.scope():
        a = attachment_store(ticket=ticket, comment=None, upload=Upload("one.txt", b"same"))
        b = attachment_store(ticket=ticket, comment=None, upload=Upload("two.txt", b"same"))
    assert a.file.name == b.file.name
    assert (a.filename, b.filename) == ("one.txt", "two.txt")
