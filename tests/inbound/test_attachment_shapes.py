"""Attachments people actually send: Outlook's winmail.dat (TNEF), forwarded messages with
files inside, uuencoded blocks in a text body, and names with path parts or undeclared
8-bit bytes. Each is unpacked beside its container, within the parser's limits, and a
container that cannot be opened is kept whole with a note."""

from __future__ import annotations

import base64
import itertools
import random
import struct

import pytest

from inbound_mail.parsing import parse_message
from inbound_mail.parsing.tnef import structure_problem, unpack_tnef
from inbound_mail.parsing.unpacking import FORWARDED_MARK
from inbound_mail.parsing.uuencode import cut_uuencoded
from tests.inbound.mails import new_message_id
from tickets.models import Attachment, Comment
from tickets.services.attachments import safe_filename

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

# --------------------------------------------------------------------------- a TNEF writer
# [MS-OXTNEF] 2.1: signature, key, then attributes: level (1 message, 2 attachment), the
# attribute's id and type (one 32-bit word), length, data and a 16-bit sum of the data.

_MESSAGE, _ATTACHMENT = 1, 2
_PT_STRING8, _PT_UNICODE, _PT_BINARY, _PT_OBJECT, _PT_SHORT = 0x1E, 0x1F, 0x102, 0xD, 0x2
IMESSAGE = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"


def _attribute(level: int, name: int, kind: int, data: bytes) -> bytes:
    head = struct.pack("<BHHI", level, name, kind, len(data))
    return head + data + struct.pack("<H", sum(data) & 0xFFFF)


def _padded(data: bytes) -> bytes:
    return struct.pack("<I", len(data)) + data + b"\x00" * (-len(data) % 4)


def _mapi(*props: tuple[int, int, bytes]) -> bytes:
    """MAPI properties (type, id, value) as TNEF stores them: a count, then each with one value."""
    out = [struct.pack("<I", len(props))]
    for kind, prop_id, value in props:
        out.append(struct.pack("<HHI", kind, prop_id, 1) + _padded(value))
    return b"".join(out)


def tnef_file(
    files: list[tuple[str, bytes]] = (),
    *,
    body: str = "",
    html: str = "",
    long_names: dict[str, str] | None = None,
    mime_tags: dict[str, str] | None = None,
    embedded: bytes = b"",
) -> bytes:
    """A winmail.dat: the OEM code page, the bodies as MAPI properties, then per file its
    rendering data, title (8.3 name), data and MAPI properties (long name, MIME type)."""
    out = [struct.pack("<IH", 0x223E9F78, 0x0101)]
    out.append(_attribute(_MESSAGE, 0x9006, 0x8, struct.pack("<I", 0x00010000)))
    out.append(_attribute(_MESSAGE, 0x9007, 0x6, struct.pack("<II", 1252, 0)))
    props = []
    if body:
        props.append((_PT_STRING8, 0x1000, body.encode("cp1252") + b"\x00"))
    if html:
        props.append((_PT_BINARY, 0x1013, html.encode("utf-8")))
    if props:
        out.append(_attribute(_MESSAGE, 0x9003, 0x6, _mapi(*props)))
    rendering = struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0xFFFF, 0xFFFF, 0)
    for name, data in files:
        out.append(_attribute(_ATTACHMENT, 0x9002, 0x6, rendering))
        out.append(_attribute(_ATTACHMENT, 0x8010, 0x1, name.encode("cp1252") + b"\x00"))
        out.append(_attribute(_ATTACHMENT, 0x800F, 0x6, data))
        attach_props = []
        if long_names and name in long_names:
            long_name = long_names[name].encode("utf-16-le") + b"\x00\x00"
            attach_props.append((_PT_UNICODE, 0x3707, long_name))
        if mime_tags and name in mime_tags:
            attach_props.append((_PT_STRING8, 0x370E, mime_tags[name].encode() + b"\x00"))
        if attach_props:
            out.append(_attribute(_ATTACHMENT, 0x9005, 0x6, _mapi(*attach_props)))
    if embedded:
        out.append(_attribute(_ATTACHMENT, 0x9002, 0x6, rendering))
        obj = _mapi((_PT_OBJECT, 0x3701, IMESSAGE + embedded))
        out.append(_attribute(_ATTACHMENT, 0x9005, 0x6, obj))
    return b"".join(out)


# --------------------------------------------------------------------------- raw mail


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data)


def raw_mail(*parts: bytes, subject: bytes = b"Files", headers: bytes = b"") -> bytes:
    """multipart/mixed from Carol to support@acme.test; each part is its headers, a blank
    line and its body, as bytes (so 8-bit names go in as they are)."""
    head = (
        b"From: Carol <carol@customer.test>\r\nTo: support@acme.test\r\n"
        b"Subject: " + subject + b"\r\nMessage-ID: <" + new_message_id().encode() + b">\r\n"
        b"Date: Mon, 3 Mar 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\n" + headers
    )
    body = b"".join(
        b"--b1\r\n" + p.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n" for p in parts
    )
    return head + b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n' + body + b"--b1--\r\n"


def text_part(text: str, charset: str = "utf-8") -> bytes:
    return f"Content-Type: text/plain; charset={charset}\n\n".encode() + text.encode(charset)


def file_part(ctype: bytes, name: bytes, data: bytes, *, extra: bytes = b"") -> bytes:
    return (
        b"Content-Type: "
        + ctype
        + b'\nContent-Disposition: attachment; filename="'
        + name
        + b'"\nContent-Transfer-Encoding: base64\n'
        + extra
        + b"\n"
        + _b64(data)
    )


def names(msg) -> list[tuple[str, str]]:
    return [(a.filename, a.content_type) for a in msg.attachments]


# --------------------------------------------------------------------------- TNEF


def test_tnef_files_are_unpacked_beside_the_original():
    dat = tnef_file(
        [("QUARTE~1.PDF", PDF), ("notes.txt", b"call back monday")],
        long_names={"QUARTE~1.PDF": "Quarterly report.pdf"},
        mime_tags={"QUARTE~1.PDF": "application/pdf"},
    )
    msg = parse_message(
        raw_mail(text_part("See attached."), file_part(b"application/ms-tnef", b"winmail.dat", dat))
    )
    assert names(msg) == [
        ("winmail.dat", "application/ms-tnef"),
        ("Quarterly report.pdf", "application/pdf"),
        ("notes.txt", "text/plain"),
    ]
    assert [a.payload for a in msg.attachments] == [dat, PDF, b"call back monday"]
    assert msg.text == "See attached."
    assert not [d for d in msg.defects if "TNEF" in d]


@pytest.mark.parametrize(
    ("ctype", "name"),
    [
        (b"application/vnd.ms-tnef", b"winmail.dat"),
        (b"application/octet-stream", b"winmail.dat"),  # relabelled by a relay, name kept
        (b"application/ms-tnef", b"att00001.dat"),
    ],
)
def test_tnef_recognised_by_type_or_by_name_and_signature(ctype, name):
    dat = tnef_file([("a.txt", b"alpha")])
    msg = parse_message(raw_mail(text_part("x"), file_part(ctype, name, dat)))
    assert [a.filename for a in msg.attachments] == [name.decode(), "a.txt"]


def test_octet_stream_named_winmail_without_signature_is_just_a_file():
    msg = parse_message(
        raw_mail(text_part("x"), file_part(b"application/octet-stream", b"winmail.dat", b"junk"))
    )
    assert [a.filename for a in msg.attachments] == ["winmail.dat"]
    assert msg.defects == []


def test_tnef_body_is_the_text_when_the_mail_has_none():
    dat = tnef_file([("a.txt", b"alpha")], body="Bitte um Rückruf.\r\nDanke")
    msg = parse_message(raw_mail(file_part(b"application/ms-tnef", b"winmail.dat", dat)))
    assert msg.text_full == "Bitte um Rückruf.\nDanke"
    assert msg.text == "Bitte um Rückruf.\nDanke"
    assert [a.filename for a in msg.attachments] == ["winmail.dat", "a.txt"]


def test_tnef_html_body_is_sanitised_and_gives_the_text():
    dat = tnef_file(html='<p onclick="x()">Hello <b>there</b></p><script>bad()</script>')
    msg = parse_message(raw_mail(file_part(b"application/ms-tnef", b"winmail.dat", dat)))
    assert msg.html == "<p>Hello <b>there</b></p>"
    assert msg.text_full == "Hello there"


def test_tnef_body_does_not_replace_the_mails_own_text():
    dat = tnef_file(body="the RTF twin")
    msg = parse_message(
        raw_mail(
            text_part("The real text."), file_part(b"application/ms-tnef", b"winmail.dat", dat)
        )
    )
    assert msg.text_full == "The real text."


def test_tnef_embedded_message_files_are_listed():
    inner = tnef_file([("inner.txt", b"from the attached mail")])
    dat = tnef_file([("outer.txt", b"outer")], embedded=inner)
    msg = parse_message(raw_mail(file_part(b"application/ms-tnef", b"winmail.dat", dat)))
    assert [a.filename for a in msg.attachments] == ["winmail.dat", "outer.txt", "inner.txt"]


def _truncated(data: bytes, size: int) -> bytes:
    return data[:size]


@pytest.mark.parametrize(
    ("label", "damage"),
    [
        ("cut in the middle", lambda d: d[: len(d) // 2]),
        ("cut after the signature", lambda d: d[:8]),
        ("wrong signature", lambda d: b"\x00\x00\x00\x00" + d[4:]),
        ("garbage after the key", lambda d: d[:6] + b"\xff" * 200),
        ("attachment data before any attachment", lambda d: d[:6] + d[-40:]),
    ],
)
def test_corrupt_tnef_is_kept_whole_with_a_note(label, damage):
    dat = damage(tnef_file([("a.txt", b"alpha" * 20)], body="text"))
    msg = parse_message(
        raw_mail(text_part("x"), file_part(b"application/ms-tnef", b"winmail.dat", dat))
    )
    assert msg.attachments[0].filename == "winmail.dat"
    assert msg.attachments[0].payload == dat
    listed = [a.filename for a in msg.attachments[1:]]
    notes = [d for d in msg.defects if d.startswith("winmail.dat: ")]
    # A stream cut short may still hold a whole first file; either way nothing is lost.
    assert listed in ([], ["a.txt"]), label
    assert notes or listed == ["a.txt"], label


def test_tnef_damaged_anywhere_never_crashes():
    dat = tnef_file([("a.txt", b"alpha" * 30), ("b.bin", bytes(range(256)))], body="text")
    rng = random.Random(16)
    for _ in range(300):
        damaged = bytearray(dat)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(6, len(damaged))] = rng.randrange(256)
        contents = unpack_tnef(bytes(damaged))
        assert contents.problem or all(f.payload for f in contents.files)


def _mapi_attribute(payload: bytes) -> bytes:
    head = tnef_file()
    return head + _attribute(_MESSAGE, 0x9003, 0x6, payload)


@pytest.mark.parametrize(
    ("label", "payload"),
    [
        # tnefparse would loop 2**32 times over these, building an object for each value.
        ("property count", struct.pack("<I", 0xFFFFFFFF) + b"\x00" * 16),
        ("multi-value count", struct.pack("<IHHI", 1, _PT_SHORT | 0x1000, 0x3A00, 0xFFFFFFFF)),
        ("string value count", struct.pack("<IHHI", 1, _PT_STRING8, 0x1000, 0xFFFFFFFF)),
    ],
)
def test_tnef_counts_larger_than_the_data_are_refused(label, payload):
    dat = _mapi_attribute(payload)
    assert structure_problem(dat).startswith("TNEF not unpacked"), label
    msg = parse_message(
        raw_mail(text_part("x"), file_part(b"application/ms-tnef", b"winmail.dat", dat))
    )
    assert [a.filename for a in msg.attachments] == ["winmail.dat"]
    assert any(d.startswith("winmail.dat: TNEF not unpacked") for d in msg.defects)


def test_tnef_embedded_too_deep_is_refused():
    dat = tnef_file([("deep.txt", b"x")])
    for _ in range(4):
        dat = tnef_file(embedded=dat)
    assert structure_problem(dat) == "TNEF not unpacked: messages embedded more than 2 deep"
    msg = parse_message(raw_mail(file_part(b"application/ms-tnef", b"winmail.dat", dat)))
    assert [a.filename for a in msg.attachments] == ["winmail.dat"]


def test_tnef_many_objects_stay_within_the_copy_budget():
    # 60,000 tiny objects: tnefparse would copy the rest of the stream for each (quadratic).
    dat = tnef_file() + _attribute(_MESSAGE, 0x8004, 0x1, b"s\x00" + b"\x00" * 100) * 60_000
    assert structure_problem(dat) == "TNEF not unpacked: too many objects for its size"


# --------------------------------------------------------------------------- forwarded mail


_boundaries = itertools.count(1)


def _forwarded(subject: str, sender: str, *parts: bytes) -> bytes:
    boundary = f"i{next(_boundaries)}".encode()
    head = f"From: {sender}\nSubject: {subject}\nMessage-ID: <{new_message_id()}>\n"
    inner = head.encode() + b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="
    inner += boundary + b"\n\n" + b"".join(b"--" + boundary + b"\n" + p + b"\n" for p in parts)
    return (
        b"Content-Type: message/rfc822\nContent-Disposition: attachment\n\n"
        + inner
        + b"--"
        + boundary
        + b"--"
    )


def test_forwarded_message_files_are_listed_after_the_message():
    inner = _forwarded(
        "Invoice 42",
        "Dana <dana@vendor.test>",
        text_part("Please find the invoice attached."),
        file_part(b"application/pdf", b"invoice-42.pdf", PDF),
        file_part(b"image/png", b"logo.png", PNG),
    )
    msg = parse_message(raw_mail(text_part("FYI, see below."), inner, subject=b"Fwd: Invoice 42"))
    assert names(msg) == [
        ("Invoice 42.eml", "message/rfc822"),
        ("invoice-42.pdf", "application/pdf"),
        ("logo.png", "image/png"),
    ]
    assert msg.attachments[1].payload == PDF
    assert b"Please find the invoice attached." in msg.attachments[0].payload
    assert msg.text == "FYI, see below."
    own, _, forwarded = msg.html.partition(FORWARDED_MARK)
    assert own == "<p>FYI, see below.</p>"
    assert forwarded == (
        "<summary>Forwarded message: Invoice 42 from Dana &lt;dana@vendor.test&gt;</summary>"
        "<pre>Please find the invoice attached.</pre></details>"
    ) or forwarded.startswith(
        "<summary>Forwarded message: Invoice 42 from Dana &lt;dana@vendor.test&gt;</summary>"
    )
    assert "Please find the invoice attached." in forwarded


def test_forwarded_html_message_is_sanitised_inside_the_collapsed_block():
    inner = _forwarded(
        "=?utf-8?q?Gr=C3=BC=C3=9Fe?=",
        "=?utf-8?q?J=C3=B6rg?= <jorg@vendor.test>",
        b"Content-Type: text/html; charset=utf-8\n\n<p>Hi<script>steal()</script></p>",
    )
    html = parse_message(raw_mail(text_part("see"), inner)).html
    assert html == (
        "<p>see</p>"
        + FORWARDED_MARK
        + "<summary>Forwarded message: Grüße from Jörg &lt;jorg@vendor.test&gt;</summary>"
        "<p>Hi</p></details>"
    )


def test_forwarded_inside_forwarded_lists_files_to_the_depth_limit():
    part = _forwarded("level 5", "e@x.test", file_part(b"text/plain", b"f5.txt", b"5"))
    for level in (4, 3, 2, 1):
        part = _forwarded(
            f"level {level}",
            "e@x.test",
            file_part(b"text/plain", f"f{level}.txt".encode(), str(level).encode()),
            part,
        )
    msg = parse_message(raw_mail(text_part("deep"), part))
    assert [a.filename for a in msg.attachments] == [
        "level 1.eml", "f1.txt",
        "level 2.eml", "f2.txt",
        "level 3.eml", "f3.txt",
        "level 4.eml",
    ]  # fmt: skip
    assert (
        "messages forwarded more than 3 deep: their files stay inside the attached message"
        in msg.defects
    )
    assert msg.html.count(FORWARDED_MARK) == 3


def test_forward_of_a_mail_with_winmail_dat_and_uuencode_lists_all():
    uu = "Here it is:\nbegin 644 data.bin\n#86)C\n`\nend\nbye\n"
    inner = _forwarded(
        "old",
        "x@y.test",
        text_part(uu),
        file_part(b"application/ms-tnef", b"winmail.dat", tnef_file([("t.txt", b"tnef")])),
    )
    msg = parse_message(raw_mail(text_part("fw"), inner))
    assert [a.filename for a in msg.attachments] == ["old.eml", "winmail.dat", "t.txt", "data.bin"]
    assert msg.attachments[-1].payload == b"abc"


# --------------------------------------------------------------------------- uuencode


UU_BLOCK = "begin 644 hello.txt\n.2&5L;&\\L('=O<FQD(0H`\n`\nend\n"


def test_uuencoded_block_becomes_an_attachment_and_leaves_the_text():
    text = f"Log attached.\n\n{UU_BLOCK}\nRegards, Carol"
    msg = parse_message(raw_mail(text_part(text)))
    assert names(msg) == [("hello.txt", "text/plain")]
    assert msg.attachments[0].payload == b"Hello, world!\n"
    assert msg.text_full == "Log attached.\n\n\nRegards, Carol"
    assert "begin 644" not in msg.text_full


def test_uuencoded_in_a_plain_non_mime_mail():
    raw = b"From: a@customer.test\nTo: support@acme.test\nSubject: u\n\nsee\n" + UU_BLOCK.encode()
    msg = parse_message(raw)
    assert [a.filename for a in msg.attachments] == ["hello.txt"]
    assert msg.text_full == "see"


@pytest.mark.parametrize(
    "text",
    [
        "begin 644 x.txt\n.2&5L;&\\L('=O<FQD(0H`\n",  # no "end": not cut
        "begin 644 x.txt\nthis is not uuencoded at all\nend\n",
        "Let us begin 644 tests tomorrow, then end.",  # not at a line start
    ],
)
def test_not_quite_uuencoded_text_stays_as_it_is(text):
    assert cut_uuencoded(text, max_files=10) == (text, [])


def test_uuencoded_names_with_paths_are_made_safe():
    block = UU_BLOCK.replace("hello.txt", "../../etc/hello.txt")
    msg = parse_message(raw_mail(text_part(block)))
    assert [a.filename for a in msg.attachments] == ["hello.txt"]


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw_name", "expected"),
    [
        (b"../../x.txt", "x.txt"),
        (b"c:\\\\temp\\\\y.png", "y.png"),
        (b"/etc/passwd", "passwd"),
        (b"C:y.png", "y.png"),
        (b"reports/", "reports"),
        (b"..\\\\..\\\\", "attachment.bin"),  # nothing left: named after its type
        (b"..", "attachment.bin"),
    ],
)
def test_names_with_path_parts_keep_a_safe_base_name(raw_name, expected):
    msg = parse_message(
        raw_mail(text_part("x"), file_part(b"application/octet-stream", raw_name, b"1"))
    )
    assert [a.filename for a in msg.attachments] == [expected]


@pytest.mark.parametrize(
    ("raw_name", "body", "expected"),
    [
        ("Résumé.pdf".encode(), ("x", "us-ascii"), "Résumé.pdf"),
        ("Résumé.pdf".encode("latin-1"), ("x", "us-ascii"), "Résumé.pdf"),
        ("Akte \u2013 März.pdf".encode("cp1252"), ("x", "iso-8859-1"), "Akte \u2013 März.pdf"),
        ("見積書.pdf".encode("shift_jis"), ("見積", "shift_jis"), "見積書.pdf"),
        ("Отчёт.pdf".encode("koi8-r"), ("Отчёт", "koi8-r"), "Отчёт.pdf"),
    ],
)
def test_undeclared_8bit_names_are_decoded_best_effort(raw_name, body, expected):
    pdf = file_part(b"application/pdf", raw_name, PDF)
    msg = parse_message(raw_mail(text_part(*body), pdf))
    assert [a.filename for a in msg.attachments] == [expected]


def test_8bit_name_uses_the_parts_own_charset_first():
    name = "Отчёт.txt".encode("koi8-r")
    part = b'Content-Type: text/plain; charset=koi8-r; name="' + name + b'"\n'
    part += b"Content-Disposition: attachment\n\nx"
    # The body declares Shift_JIS, which would also read these bytes (as other characters).
    msg = parse_message(raw_mail(text_part("\u898b", "shift_jis"), part))
    assert [a.filename for a in msg.attachments] == ["Отчёт.txt"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../x.txt", "x.txt"),
        ("c:\\temp\\y.png", "y.png"),
        ("/etc/passwd", "passwd"),
        ("C:y.png", "y.png"),
        ("reports/", "reports"),
        ("..", "attachment"),
    ],
)
def test_stored_filename_keeps_a_safe_base_name(name, expected):
    assert safe_filename(name) == expected


# --------------------------------------------------------------------------- on the ticket


def test_ticket_gets_the_unpacked_files_and_the_forward_collapsed(support, deliver):
    acme, _ = support
    dat = tnef_file([("plan.txt", b"the plan")])
    inner = _forwarded(
        "Site visit",
        "Dana <dana@vendor.test>",
        text_part("We arrive at nine."),
        file_part(b"application/pdf", b"agenda.pdf", PDF),
    )
    raw = raw_mail(
        text_part("Forwarding this.\n\n-- \nCarol\nCustomer Inc."),
        inner,
        file_part(b"application/ms-tnef", b"winmail.dat", dat),
        subject=b"Fwd: Site visit",
    )
    [row] = deliver(raw)
    with acme.scope():
        comment = Comment.objects.get(ticket_id=row.ticket_id)
        stored = list(Attachment.objects.filter(comment=comment).order_by("id"))
    assert [(a.filename, a.size) for a in stored] == [
        ("Site visit.eml", stored[0].size),
        ("agenda.pdf", len(PDF)),
        ("winmail.dat", len(dat)),
        ("plan.txt", 8),
    ]
    # The signature was cut from the text; the collapsed forward stays after the text.
    assert comment.body_text == "Forwarding this."
    assert comment.body_html == (
        "<p>Forwarding this.</p>"
        + FORWARDED_MARK
        + "<summary>Forwarded message: Site visit from Dana &lt;dana@vendor.test&gt;</summary>"
        "<p>We arrive at nine.</p></details>"
    )
