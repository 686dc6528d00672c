"""Hostile and broken input never crashes the pipeline, and never loses the message.

The forged reply token and the subject tag of another tenant's ticket are in test_threading.
"""

import random

from django.core.files.storage import default_storage

from inbound_mail.models import UnclaimedMessage
from tests.inbound.mails import mail
from tickets.models import Contact, Ticket


def test_empty_file_is_kept_in_platform_quarantine(support, deliver):
    assert deliver(b"") == []
    row = UnclaimedMessage.objects.get()
    assert (row.size, row.subject, default_storage.exists(row.raw_path)) == (0, "", True)


def test_empty_file_for_a_tenant_is_quarantined(support, deliver):
    acme, _ = support
    [row] = deliver(b"", fallback_organization=acme.org)
    assert (row.status, row.reason) == (
        "quarantined",
        "no sender address (From, Sender, Reply-To): nobody to answer",
    )


def test_random_bytes_never_crash(support, deliver):
    acme, _ = support
    noise = random.Random(3).randbytes(20_000)
    [row] = deliver(noise, fallback_organization=acme.org)
    assert row.status in ("quarantined", "processed")
    assert default_storage.open(row.raw_path).read() == noise


def test_forty_megabyte_message_is_stored_and_quarantined(support, deliver):
    acme, _ = support
    line = b"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n"
    body = line * (40 * 1024 * 1024 // len(line))
    raw = (
        b"From: carol@customer.test\r\nTo: support@acme.test\r\nSubject: Huge\r\n"
        b"Message-ID: <huge@customer.test>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\n"
        b"See attachment.\r\n--b\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="x.bin"'
        b"\r\n\r\n" + body + b"--b--\r\n"
    )
    assert len(raw) > 40 * 1024 * 1024
    [row] = deliver(raw)
    assert (row.status, row.subject, row.size) == ("quarantined", "Huge", len(raw))
    assert row.reason.startswith("too large: 40.0 MB, over the 25 MB limit")
    with acme.scope():
        assert Ticket.objects.count() == 0


def test_multipart_nested_two_hundred_deep(support, deliver):
    depth = 200
    head = (
        b"From: carol@customer.test\r\nTo: support@acme.test\r\nSubject: Deep\r\n"
        b"MIME-Version: 1.0\r\n"
    )
    parts = []
    for level in range(depth):
        parts.append(f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n')
    middle = "Content-Type: text/plain\r\n\r\nAt the bottom.\r\n"
    tail = "".join(f"--b{level}--\r\n" for level in reversed(range(depth)))
    raw = head + ("".join(parts) + middle + tail).encode()
    [row] = deliver(raw)
    assert (row.status, row.ticket.subject) == ("processed", "Deep")


def test_header_injection_by_encoded_crlf_is_flattened(support, deliver):
    acme, _ = support
    raw = (
        b"From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40x=2Etest?= <eve@evil.test>\r\n"
        b"To: support@acme.test\r\n"
        b"Subject: =?utf-8?q?Hello=0D=0ABcc:_victim@x.test=0D=0A=0D=0Abody?=\r\n"
        b"Message-ID: <inject@evil.test>\r\n\r\nHi\r\n"
    )
    [row] = deliver(raw)
    with acme.scope():
        ticket = Ticket.objects.get(pk=row.ticket_id)
        contact = Contact.objects.get(pk=ticket.requester_id)
    assert ticket.subject == "Hello Bcc: victim@x.test body"
    assert (contact.email, contact.name) == ("eve@evil.test", "Eve Bcc: victim@x.test")


def test_bare_cr_in_a_header_cannot_add_recipients(support, deliver):
    acme, _ = support
    # A bare CR ends a header line for the parser (as for many MTAs); the smuggled Bcc is
    # a header nobody reads: recipients come from To/Cc and the envelope only.
    raw = mail(subject="Legit").replace(b"Subject: Legit", b"Subject: Legit\rBcc: victim@x.test")
    [row] = deliver(raw)
    with acme.scope():
        assert Ticket.objects.get(pk=row.ticket_id).subject == "Legit"
        assert list(Contact.objects.values_list("email", flat=True)) == ["carol@customer.test"]
