"""Unit behaviour of inbound_mail.parsing and its helpers on small hand-made messages."""

import base64
from datetime import UTC, datetime

import pytest

from inbound_mail import autoreply
from inbound_mail.forwards import find_forwarded_sender
from inbound_mail.parsing import Address, classification, parse_message, pipeline, to_json
from inbound_mail.parsing.addresses import parse_addresses
from inbound_mail.parsing.charsets import decode_bytes
from inbound_mail.parsing.headers import decode_header_value, parse_date


def mail(headers: str, body: str = "hello", *, charset: str = "utf-8") -> bytes:
    head = headers.strip().replace("\n", "\r\n")
    return f"{head}\r\n\r\n{body}".encode(charset)


def multipart(headers: str, *parts: str, boundary: str = "b1", subtype: str = "mixed") -> bytes:
    body = "".join(f"--{boundary}\r\n{p.strip()}\r\n" for p in parts) + f"--{boundary}--\r\n"
    ctype = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
    return mail(f"{headers.strip()}\n{ctype}", body.replace("\r\n", "\n").replace("\n", "\r\n"))


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain text", "plain text"),
        ("=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "Grüße"),
        ("=?utf-8?b?R3LDvMOfZQ==?=", "Grüße"),
        ("=?UTF-8*de?Q?Gr=C3=BC=C3=9Fe?=", "Grüße"),  # RFC 2231 language suffix
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # whitespace between words dropped
        ("x =?utf-8?q?a?= y", "x a y"),  # kept next to plain text
        ("=?utf-8?q?a_b?=", "a b"),
        ("=?utf-8?b?R3LDvMOfZQ?=", "Grüße"),  # missing padding
        ("=?no-such-charset?q?caf=E9?=", "café"),  # unknown charset: cp1252 fallback
        ("=?iso-8859-1?q?caf=E9?=", "café"),
        # One character split across two words (GB2312 via Outlook): joined first.
        ("=?gb2312?b?1tA=?= =?gb2312?b?zsQ=?=", "中文"),
        ("=?gb2312?b?1g==?= =?gb2312?b?0M7E?=", "中文"),
    ],
)
def test_decode_header_value(raw, expected):
    assert decode_header_value(raw) == expected


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("안녕".encode("cp949"), "ks_c_5601-1987", "안녕"),
        ("镕".encode("gb18030"), "gb2312", "镕"),  # outside GB2312, inside GB18030
        (b"\x80 5", "iso-8859-1", "€ 5"),  # Windows bytes labelled Latin-1
        ("ü".encode(), "iso-8859-1", "ü"),  # UTF-8 labelled Latin-1
        ("ü".encode(), "us-ascii", "ü"),
        ("ü".encode("cp1252"), "", "ü"),
        ("ü".encode("cp1252"), "x-unknown", "ü"),
        ("ツール".encode("cp932"), "iso-2022-jp", "ツール"),  # Shift_JIS labelled ISO-2022-JP
        ("テスト".encode("iso2022_jp"), "ISO-2022-JP", "テスト"),
        ("Привет".encode("koi8_r"), "koi8-r", "Привет"),
        (b"\xff\xfe", "utf-8", "\ufffd\ufffd"),
    ],
)
def test_decode_bytes_charsets(data, charset, expected):
    assert decode_bytes(data, charset) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Bob <Bob@Example.COM>", [("Bob", "bob@example.com")]),
        ('"Smith, Bob" <bob@example.com>, ann@example.com',
         [("Smith, Bob", "bob@example.com"), ("", "ann@example.com")]),
        ("Smith, Bob <bob@example.com>", [("Smith, Bob", "bob@example.com")]),
        ("bob@example.com (Bob Smith)", [("Bob Smith", "bob@example.com")]),
        ("MAILER-DAEMON (Mail Delivery System)", [("Mail Delivery System", "mailer-daemon")]),
        ("Bob Smith [mailto:bob@example.com]", [("Bob Smith", "bob@example.com")]),
        ("<mailto:bob@example.com>", [("", "bob@example.com")]),
        ("a@example.com; b@example.com", [("", "a@example.com"), ("", "b@example.com")]),
        ("Team: a@example.com, b@example.com;", [("", "a@example.com"), ("", "b@example.com")]),
        ("undisclosed-recipients:;", []),
        ("=?iso-8859-1?Q?B=FCrling,=20Andreas?= <a@example.com>",
         [("Bürling, Andreas", "a@example.com")]),
        ('"=?utf-8?b?w4RyZ2Vy?=" <a@example.com>', [("Ärger", "a@example.com")]),
        ("pete(his account)@silly.test(his host)", [("his account his host", "pete@silly.test")]),
        ("<@relay.example:mary@example.net>", [("", "mary@example.net")]),
        ("jdoe@test   . example", [("", "jdoe@test.example")]),
        ("Bob Smith", []),
        ("", []),
    ],
)  # fmt: skip
def test_parse_addresses(raw, expected):
    assert [(a.name, a.address) for a in parse_addresses(raw)] == expected


def test_parse_addresses_encoded_word_in_address_decoded_only_when_harmless():
    # Zammad mail118: decodes to plain atext, so it is read as the address it says.
    assert parse_addresses("=?utf-8?Q?agent?=@example.com")[0].address == "agent@example.com"
    # Decoding would add an "@" and name a different mailbox: it stays literal.
    spoof = parse_addresses("=?utf-8?q?ceo=40bank.example?=@evil.example")
    assert spoof[0].address == "=?utf-8?q?ceo=40bank.example?=@evil.example"


def test_parse_message_headers_and_ids():
    raw = mail(
        """
From: "Bob" <bob@example.com>
Sender: list@example.org
To: a@example.com, b@example.com
To: c@example.com
Cc: =?utf-8?q?J=C3=B6rg?= <jorg@example.com>
Reply-To: replies@example.com
Delivered-To: Support@Example.com
X-Original-To: support+abc@example.com
Message-ID: <m1@example.com>
In-Reply-To: <p1@example.com> <p2@example.com>
References: <r1@example.com>
 <r2@example.com>
Subject: =?utf-8?q?Hallo_?=
 =?utf-8?q?Welt?=
Date: Tue, 03 Apr 2012 16:23:59 +0400
"""
    )
    msg = parse_message(raw)
    assert msg.from_ == Address("Bob", "bob@example.com")
    assert msg.sender == Address("", "list@example.org")
    assert [a.address for a in msg.to] == ["a@example.com", "b@example.com", "c@example.com"]
    assert msg.cc == [Address("Jörg", "jorg@example.com")]
    assert msg.reply_to == [Address("", "replies@example.com")]
    assert msg.delivered_to == ["support@example.com", "support+abc@example.com"]
    assert msg.message_id == "m1@example.com"
    assert msg.in_reply_to == ["p1@example.com", "p2@example.com"]
    assert msg.references == ["r1@example.com", "r2@example.com"]
    assert msg.subject == "Hallo Welt"
    assert msg.date == datetime(2012, 4, 3, 12, 23, 59, tzinfo=UTC)
    assert msg.headers["references"] == ["<r1@example.com> <r2@example.com>"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 1 Dec 2014 20:48:40 +0530", datetime(2014, 12, 1, 15, 18, 40, tzinfo=UTC)),
        ("Mon, 1 Dec 2014 20:48:40 -0000", datetime(2014, 12, 1, 20, 48, 40, tzinfo=UTC)),
        ("1 Dec 14 20:48 GMT", datetime(2014, 12, 1, 20, 48, tzinfo=UTC)),
        ("Whenever", None),
        ("Mon, 1 Dec 99999 20:48:40 +0000", None),
        ("", None),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


def test_parse_message_ids_without_brackets_and_missing():
    msg = parse_message(mail("Message-ID: abc@example.com\nIn-Reply-To: x@y.z"))
    assert (msg.message_id, msg.in_reply_to) == ("abc@example.com", ["x@y.z"])
    assert parse_message(mail("Subject: none")).message_id == ""


def test_parse_message_from_falls_back_when_unusable():
    two = parse_message(mail("From: [??????]\nFrom: Real <real@example.com>"))
    assert two.from_ == Address("Real", "real@example.com")
    none = parse_message(mail('From: "X" <>\nReply-To: <r@example.com>'))
    assert none.from_ == Address("", "r@example.com")


def test_parse_message_repairs_stray_header_line():
    raw = mail("X-Tracker: abc\ndefghijk\nFrom: a@example.com\nSubject: kept")
    msg = parse_message(raw)
    assert (msg.subject, msg.from_.address, msg.text_full) == ("kept", "a@example.com", "hello")


def test_parse_message_raw_8bit_header_uses_declared_charset():
    raw = "Subject: 转发\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n正文".encode("gb2312")
    msg = parse_message(raw)
    assert (msg.subject, msg.text) == ("转发", "正文")


# --------------------------------------------------------------------------- bodies


def test_parse_message_alternative_prefers_plain_and_sanitises_html():
    raw = multipart(
        "From: a@example.com",
        "Content-Type: text/plain; charset=utf-8\n\nHello *world*",
        'Content-Type: text/html; charset=utf-8\n\n<p onclick="x()">Hello <b>world</b>'
        "<script>alert(1)</script><style>p{}</style>"
        '<a href="javascript:alert(1)">j</a><a href="https://example.com">l</a>'
        '<img src="cid:logo@x"><img src="data:image/png;base64,AAAA">'
        '<a href="data:text/html,<script>x</script>">d</a>'
        '<span style="color: red; position: fixed">c</span></p>',
        subtype="alternative",
    )
    msg = parse_message(raw)
    assert msg.text == msg.text_full == "Hello *world*"
    for removed in ("<script", "alert", "p{}", "onclick", "javascript"):
        assert removed not in msg.html
    assert '<a href="https://example.com" rel="noopener noreferrer">l</a>' in msg.html
    assert '<img src="cid:logo@x">' in msg.html
    assert '<img src="data:image/png;base64,AAAA">' in msg.html
    assert "data:text/html" not in msg.html
    assert '<span style="color:red">c</span>' in msg.html
    assert msg.attachments == []


def test_parse_message_html_only_derives_text_and_strips_quote():
    html = (
        "<html><head><title>T</title><style>x{}</style></head><body>"
        "<p>Thanks&nbsp;a lot!</p><p>Line one<br>Line two</p>"
        '<div class="gmail_quote">On Mon, Apr 2, 2012 at 6:26 PM, Bob &lt;bob@example.com&gt;'
        " wrote:"
        "<blockquote><p>Old question</p></blockquote></div></body></html>"
    )
    msg = parse_message(mail("Content-Type: text/html; charset=utf-8", html))
    assert msg.text_full == (
        "Thanks a lot!\n\nLine one\nLine two\n\n"
        "On Mon, Apr 2, 2012 at 6:26 PM, Bob <bob@example.com> wrote:\n> Old question"
    )
    assert msg.text == "Thanks a lot!\n\nLine one\nLine two"


def test_parse_message_format_flowed_is_joined():
    raw = mail(
        "Content-Type: text/plain; charset=utf-8; format=flowed; delsp=no",
        "This is one \r\nparagraph.\r\n\r\n> quoted \r\n> line\r\n-- \r\nsig",
    )
    assert parse_message(raw).text_full == "This is one paragraph.\n\n> quoted line\n-- \nsig"


def test_parse_message_empty_plain_alternative_uses_html():
    raw = multipart(
        "Subject: s",
        "Content-Type: text/plain\n\n \n",
        "Content-Type: text/html\n\n<div>Real content</div>",
        subtype="alternative",
    )
    assert parse_message(raw).text == "Real content"


# --------------------------------------------------------------------------- attachments


def test_parse_message_attachments():
    png = base64.b64encode(b"\x89PNG fake").decode()
    inner = "From: Original <orig@example.com>\nSubject: Inner subject\n\nInner body"
    raw = multipart(
        "From: a@example.com\nSubject: Fwd: files",
        "Content-Type: text/plain\n\nSee files.",
        "Content-Type: application/pdf\nContent-Disposition: attachment;\n"
        " filename*0*=utf-8''R%C3%A9sum;\n filename*1*=%C3%A9.pdf\n\n%PDF",
        "Content-Type: image/png\nContent-ID: <img1@x>\nContent-Transfer-Encoding: base64\n\n"
        + png,
        'Content-Type: text/plain; name="=?utf-8?q?Gr=C3=BC=C3=9Fe.txt?="\n'
        "Content-Disposition: attachment\n\nfile text",
        'Content-Type: application/octet-stream; name="..\\\\..\\\\boot.ini"\n\nx',
        "Content-Type: text/calendar; method=REQUEST\n\nBEGIN:VCALENDAR\nEND:VCALENDAR",
        "Content-Type: message/rfc822\n\n" + inner,
    )
    msg = parse_message(raw)
    names = [(a.filename, a.content_type, a.inline, a.content_id) for a in msg.attachments]
    assert names == [
        ("Résumé.pdf", "application/pdf", False, ""),
        ("image.png", "image/png", True, "img1@x"),
        ("Grüße.txt", "text/plain", False, ""),
        ("boot.ini", "application/octet-stream", False, ""),
        ("invite.ics", "text/calendar", False, ""),
        ("Inner subject.eml", "message/rfc822", False, ""),
    ]
    image = msg.attachments[1]
    assert image.payload == b"\x89PNG fake"
    assert image.size == len(image.payload)
    assert len(image.sha256) == 64
    assert b"Inner body" in msg.attachments[-1].payload
    assert msg.text == "See files."
    assert msg.forwarded_from == Address("Original", "orig@example.com")


def test_parse_message_outlook_inline_image_named_after_content_id():
    raw = multipart(
        "Subject: s",
        'Content-Type: text/html\n\n<img src="cid:image001.jpg@01CD">',
        "Content-Type: image/jpeg\nContent-ID: <image001.jpg@01CD>\n\nxx",
        "Content-Type: image/jpeg\n\nyy",
        "Content-Type: image/jpeg\n\nzz",
        subtype="related",
    )
    names = [a.filename for a in parse_message(raw).attachments]
    assert names == ["image001.jpg", "image.jpg", "image1.jpg"]


def test_to_json_shape():
    msg = parse_message(
        mail("From: a@example.com\nIn-Reply-To: <x@y>\nDate: Tue, 3 Apr 2012 16:23:59 +0000")
    )
    data = to_json(msg)
    assert data["from"] == {"name": "", "address": "a@example.com"}
    assert data["in_reply_to"] == ["x@y"]
    assert data["date"] == "2012-04-03T16:23:59+00:00"
    assert data["bounce"] is None
    assert data["forwarded_from"] is None


# --------------------------------------------------------------------------- fallbacks


def test_parse_message_falls_back_to_mail_parser(monkeypatch):
    def broken(raw):
        raise RuntimeError("bug")

    monkeypatch.setattr(pipeline, "_parse_stdlib", broken)
    msg = parse_message(mail("From: Bob <bob@example.com>\nSubject: still here", "body text"))
    assert (msg.subject, msg.from_.address, msg.text) == (
        "still here",
        "bob@example.com",
        "body text",
    )
    assert msg.defects[0] == "stdlib parser failed: RuntimeError"


def test_parse_message_last_resort_keeps_headers(monkeypatch):
    def broken(raw):
        raise RuntimeError("bug")

    monkeypatch.setattr(pipeline, "_parse_stdlib", broken)
    monkeypatch.setattr(pipeline, "_parse_mailparser", broken)
    msg = parse_message(mail("Subject: last resort", "body"))
    assert (msg.subject, msg.text) == ("last resort", "body")
    assert msg.defects[:2] == [
        "stdlib parser failed: RuntimeError",
        "mail-parser failed: RuntimeError",
    ]


def test_parse_message_classification_bug_keeps_the_parse(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(classification.bounces, "find_bounce", broken)
    msg = parse_message(mail("Subject: ok"))
    assert msg.subject == "ok"
    assert msg.bounce is None
    assert "classification step failed: RuntimeError" in msg.defects


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"auto-submitted": ["auto-replied"]}, "auto-submitted: auto-replied"),
        ({"auto-submitted": ["no"]}, ""),
        ({"precedence": ["bulk"]}, "precedence: bulk"),
        ({"precedence": ["first-class"]}, ""),
        ({"x-autoreply": ["yes"]}, "x-autoreply"),
        ({"x-autorespond": ["x"]}, "x-autorespond"),
        ({"x-auto-response-suppress": ["All"]}, "x-auto-response-suppress"),
        ({"x-auto-response-suppress": ["OOF, AutoReply"]}, "x-auto-response-suppress"),
        ({"x-auto-response-suppress": ["DR, RN"]}, ""),
        ({"list-id": ["<l.example.org>"]}, "list-id"),
        ({"list-unsubscribe": ["<mailto:u@x>"]}, "list-unsubscribe"),
        ({"x-loop": ["helpdesk"]}, "x-loop"),
        ({"return-path": ["<>"]}, "null return-path"),
        ({"content-type": ["multipart/report; report-type=disposition-notification"]},
         "multipart/report: disposition-notification"),
        ({}, ""),
    ],
)  # fmt: skip
def test_autoreply_classify_headers(headers, reason):
    assert autoreply.classify(headers) == reason


@pytest.mark.parametrize(
    ("sender", "subject", "reason"),
    [
        ("MAILER-DAEMON@example.com", "x", "sender: mailer-daemon"),
        ("postmaster@example.com", "x", "sender: postmaster"),
        ("no-reply@example.com", "x", "sender: no-reply"),
        ("noreply+123@example.com", "x", "sender: no-reply"),
        ("bob@example.com", "Out of Office: x", "subject: out of office"),
        ("bob@example.com", "Abwesenheitsnotiz: x", "subject: out of office"),
        ("bob@example.com", "Automatic reply: x", "subject: auto-reply"),
        ("bob@example.com", "Réponse automatique : x", "subject: auto-reply"),
        ("bob@example.com", "自动回复: x", "subject: auto-reply"),
        ("bob@example.com", "Question about replies", ""),
    ],
)
def test_autoreply_classify_sender_and_subject(sender, subject, reason):
    assert autoreply.classify({}, sender=sender, subject=subject) == reason


def test_find_bounce_minimal_dsn():
    raw = multipart(
        "From: MAILER-DAEMON@example.com\nSubject: Undelivered Mail Returned to Sender",
        "Content-Type: text/plain\n\nSorry.",
        "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; Gone@Example.org\nAction: failed\nStatus: 5.1.1",
        "Content-Type: message/rfc822\n\nMessage-ID: <orig@example.com>\nSubject: hi\n\nbody",
        subtype='report; report-type="delivery-status"',
    )
    msg = parse_message(raw)
    assert (msg.bounce.recipients, msg.bounce.status, msg.bounce.action) == (
        ["gone@example.org"],
        "5.1.1",
        "failed",
    )
    assert msg.bounce.original_message_id == "orig@example.com"
    assert msg.auto_generated
    assert msg.forwarded_from is None


def test_find_bounce_person_writing_about_delivery_is_not_a_bounce():
    raw = mail(
        "From: customer@example.com\nSubject: Undelivered mail to our office",
        "My mail to office@example.org failed, can you check?",
    )
    msg = parse_message(raw)
    assert msg.bounce is None
    assert not msg.auto_generated


@pytest.mark.parametrize(
    ("subject", "text", "expected"),
    [
        ("FW: Invoice", "See below\n\n________________________________\n"
         "From: Jane Doe [mailto:jane@example.com]\nSent: Monday\nTo: Bob\nSubject: Invoice",
         "Jane Doe <jane@example.com>"),
        ("Fwd: x", "---------- Forwarded message ---------\nFrom: A <a@example.com>\n"
         "Date: today\nSubject: x", "A <a@example.com>"),
        ("x", "Begin forwarded message:\n\nFrom: a@example.com\nSubject: x\nDate: y",
         "a@example.com"),
        ("Re: x", "From: a@example.com\nSent: y\n", None),
        ("Fwd: x", "no header block here", None),
    ],
)  # fmt: skip
def test_find_forwarded_sender(subject, text, expected):
    found = find_forwarded_sender(subject=subject, text=text)
    parsed = parse_addresses(found)[0] if found else None
    assert (f"{parsed.name} <{parsed.address}>" if parsed and parsed.name else
            (parsed.address if parsed else None)) == expected  # fmt: skip


def test_find_forwarded_sender_ignores_forward_inside_quoted_history():
    text = (
        "Thanks, done.\n\n"
        "On Mon, Apr 2, 2012 at 6:26 PM, Bob <bob@example.com> wrote:\n"
        "> ---------- Forwarded message ---------\n"
        "> From: Customer <customer@example.com>\n"
        "> Date: Mon, 1 Dec 2016\n"
    )
    assert find_forwarded_sender(subject="Re: Fwd: broken", text=text) is None


def test_find_forwarded_sender_apple_mail_quoted_headers():
    text = "FYI\n\nBegin forwarded message:\n\n> From: Ann <ann@example.com>\n> Subject: x\n"
    assert find_forwarded_sender(subject="Fwd: x", text=text) == "Ann <ann@example.com>"
