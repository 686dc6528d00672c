"""parse_message never raises and stays bounded on hostile input."""

import base64
import json
import os
import random
import time

import pytest

from inbound_mail.parsing import parse_message, to_json
from inbound_mail.parsing.limits import MAX_BODY_CHARS


def _parse(raw):
    msg = parse_message(raw)
    json.dumps(to_json(msg), ensure_ascii=False).encode("utf-8")
    return msg


def _nested(depth):
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    tail = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    top = b"From: a@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    return top + head + b"Content-Type: text/plain\r\n\r\nhello\r\n" + tail


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"\x00" * 100, b"From: \r\n\r\n", b":", b"--"])
def test_parse_message_degenerate_input(raw):
    msg = _parse(raw)
    assert msg.size == len(raw)
    assert msg.from_ is None


def test_parse_message_not_bytes():
    assert _parse(None).size == 0
    assert _parse("Subject: text\n\nbody").subject == "text"
    assert _parse(bytearray(b"Subject: ba\n\nbody")).subject == "ba"


def test_parse_message_random_bytes():
    rng = random.Random(7)
    for size in (1, 100, 10_000, 200_000):
        _parse(bytes(rng.getrandbits(8) for _ in range(size)))


def test_parse_message_200_deep_multipart_is_capped():
    started = time.perf_counter()
    msg = _parse(_nested(200))
    assert time.perf_counter() - started < 2
    assert msg.subject == "deep"
    assert any("nesting deeper than 50" in d for d in msg.defects)


def test_parse_message_nesting_beyond_the_stdlib_stack():
    msg = _parse(_nested(2000))  # RecursionError inside the stdlib parser
    assert msg.subject == "deep"
    assert any("nesting too deep" in d for d in msg.defects)


def test_parse_message_many_parts_are_capped():
    part = b"--x\r\nContent-Type: image/png; name=a.png\r\n\r\nAA==\r\n"
    raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n" + part * 30_000 + b"--x--"
    msg = _parse(raw)
    assert len(msg.attachments) < 501
    assert any("MIME parts" in d or "boundary lines" in d for d in msg.defects)


def test_parse_message_40_mb_attachment():
    payload = os.urandom(29 * 1024 * 1024)
    raw = (
        b"From: a@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n'
        b"--x\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b'--x\r\nContent-Type: application/octet-stream; name="big.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(payload)
        + b"\r\n--x--\r\n"
    )
    assert len(raw) > 39_000_000
    started = time.perf_counter()
    msg = _parse(raw)
    assert time.perf_counter() - started < 10
    assert msg.text == "see attached"
    assert [(a.filename, a.size) for a in msg.attachments] == [("big.bin", len(payload))]


def test_parse_message_huge_text_body_is_truncated():
    msg = _parse(b"Subject: t\r\n\r\n" + b"> quoted line\n" * 1_000_000)
    assert len(msg.text_full) <= MAX_BODY_CHARS
    assert any("truncated" in d for d in msg.defects)


def test_parse_message_deeply_nested_html_is_not_sanitised():
    # html5ever (nh3) is quadratic in nesting depth: 200,000 <div> took minutes.
    raw = b"Content-Type: text/html\r\n\r\n" + b"<div>" * 200_000 + b"hello"
    started = time.perf_counter()
    msg = _parse(raw)
    assert time.perf_counter() - started < 5
    assert msg.html == ""
    assert msg.text_full == "hello"


def test_parse_message_malformed_html_is_linear():
    # html.parser is quadratic on runs of unterminated tags; it only reads nh3 output.
    raw = b"Content-Type: text/html\r\n\r\n" + b"<a " * 100_000
    started = time.perf_counter()
    _parse(raw)
    assert time.perf_counter() - started < 5


def test_parse_message_encoded_crlf_cannot_inject_headers():
    name = base64.b64encode(b"Evil\r\nBcc: victim@example.com").decode()
    raw = (
        "Subject: =?utf-8?q?hello=0D=0ABcc:_victim@example.com?=\r\n"
        f"From: =?utf-8?b?{name}?= <a@example.com>\r\n\r\nhi"
    ).encode()
    msg = _parse(raw)
    assert msg.subject == "hello Bcc: victim@example.com"
    assert msg.from_.name == "Evil Bcc: victim@example.com"
    for value in (msg.subject, msg.from_.name, msg.from_.address):
        assert "\r" not in value
        assert "\n" not in value


def test_parse_message_nul_bytes_are_removed():
    raw = (
        b"Subject: a\x00b\r\nFrom: Bob\x00 <bob@example.com>\r\n"
        b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n'
        b"--x\r\nContent-Type: text/plain\r\n\r\nbo\x00dy\r\n"
        b'--x\r\nContent-Type: text/plain; name="a\x00.txt"\r\n'
        b"Content-Disposition: attachment\r\n\r\nfile\r\n--x--\r\n"
    )
    msg = _parse(raw)
    assert (msg.subject, msg.text_full) == ("ab", "body")
    assert msg.from_.name == "Bob"
    assert [a.filename for a in msg.attachments] == ["a.txt"]
    assert all("\x00" not in v for values in msg.headers.values() for v in values)


def test_parse_message_lying_charsets():
    raw = (
        "Subject: =?us-ascii?q?Gr=C3=BC=C3=9Fe?=\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln\r\n"
    ).encode()
    msg = _parse(raw)
    assert msg.subject == "Grüße"
    assert msg.text == "Grüße aus Köln"
    unknown = b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n\xe4\xf6\xfc"
    assert _parse(unknown).text == "äöü"
    dangerous = b"Content-Type: text/plain; charset=unicode_escape\r\n\r\n\\u0041"
    assert _parse(dangerous).text == "\\u0041"


def test_parse_message_huge_headers_are_bounded():
    raw = (
        b"Subject: " + b"=?utf-8?q?a?= " * 100_000 + b"\r\n"
        b"To: " + b"a@example.com, " * 50_000 + b"\r\n\r\nx"
    )
    started = time.perf_counter()
    msg = _parse(raw)
    assert time.perf_counter() - started < 5
    assert len(msg.to) == 1  # the same address, de-duplicated
