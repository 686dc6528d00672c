"""Headers that do not start at the first line (issue 16, section 4): a byte order mark, blank
lines, an mbox "From " line, a gateway's banner. The header block is found where lenient
parsers find it, what was skipped is noted, and the stored bytes stay as they came."""

import pytest
from django_scopes import scopes_disabled

from inbound_mail import raw_mail
from inbound_mail.parsing import parse_header_block, parse_message, to_json
from inbound_mail.parsing.headers import header_block_start
from inbound_mail.routing import header_block, summarize

MESSAGE = (
    b"From: Carol <carol@customer.test>\r\n"
    b"To: support@acme.test\r\n"
    b"Subject: Printer on fire\r\n"
    b"Message-ID: <hb1@customer.test>\r\n"
    b"\r\n"
    b"Help, the printer is on fire.\r\n"
)

SHAPES = [
    (b"\xef\xbb\xbf", ["UTF-8 byte order mark"]),
    (b"\r\n", ["1 blank line"]),
    (b"\n\n\n", ["3 blank lines"]),
    (b"From carol@customer.test  Mon Mar  3 10:00:00 2025\r\n", ["mbox From_ line"]),
    (
        b"---- Original email message ----\r\n",
        ["banner line '---- Original email message ----'"],
    ),
    (
        b"-----Original Message-----\r\n\r\n",
        ["1 blank line", "banner line '-----Original Message-----'"],
    ),
    (
        b"\xef\xbb\xbf\r\nForwarded by the mail gateway of customer.test\r\n(original follows)\r\n",
        [
            "UTF-8 byte order mark",
            "1 blank line",
            "banner line 'Forwarded by the mail gateway of customer.test'",
            "banner line '(original follows)'",
        ],
    ),
]


@pytest.mark.parametrize(("before", "skipped"), SHAPES)
def test_headers_after_leading_lines_are_found_and_the_skip_noted(before, skipped):
    parsed = parse_message(before + MESSAGE)
    assert (parsed.subject, parsed.from_.address, [a.address for a in parsed.to]) == (
        "Printer on fire",
        "carol@customer.test",
        ["support@acme.test"],
    )
    assert parsed.text == "Help, the printer is on fire."
    assert parsed.skipped_before_headers == skipped
    assert to_json(parsed)["skipped_before_headers"] == skipped
    assert parsed.defects[0] == f"skipped before the header block: {', '.join(skipped)}"
    assert parsed.size == len(before + MESSAGE)


@pytest.mark.parametrize(("before", "skipped"), SHAPES)
def test_intake_summary_finds_the_same_headers(before, skipped):
    summary = summarize(before + MESSAGE)
    assert (summary.message_id, summary.from_address, summary.subject, summary.recipients) == (
        "hb1@customer.test",
        "carol@customer.test",
        "Printer on fire",
        ["support@acme.test"],
    )
    assert header_block(before + MESSAGE) == MESSAGE.split(b"\r\n\r\n")[0] + b"\n\n"
    assert parse_header_block(before + MESSAGE.split(b"\r\n\r\n")[0]).subject == "Printer on fire"


def test_mail_that_starts_with_its_headers_skips_nothing():
    assert header_block_start(MESSAGE) == (0, [])
    parsed = parse_message(MESSAGE)
    assert (parsed.skipped_before_headers, parsed.defects) == ([], [])


@pytest.mark.parametrize(
    "text",
    [
        b"Hello team,\r\nNote: the meeting moved.\r\nSee you there.\r\n",  # one "header" only
        b"Hello team,\r\nNote: moved\r\nTime: 10am\r\n\r\nBye\r\n",  # no field mail has
        b"Just some text without any headers at all\r\n",
        b"",
    ],
)
def test_text_without_a_header_block_is_read_as_before(text):
    assert header_block_start(text) == (0, [])
    assert parse_message(text).skipped_before_headers == []


def test_a_header_line_right_after_blank_lines_is_taken():
    assert header_block_start(b"\n\nSubject: hi\n\nbody\n") == (2, ["2 blank lines"])


def test_banner_lines_are_bounded():
    before = b"".join(b"banner %d\r\n" % i for i in range(30))
    assert header_block_start(before + MESSAGE) == (0, [])


def test_a_gateway_banner_mail_opens_a_ticket_and_its_raw_bytes_are_kept(support, deliver):
    raw = b"---- Original email message ----\r\n" + MESSAGE
    [row] = deliver(raw)
    assert (row.organization_id, row.reason, row.subject) == (
        support[0].org.pk,
        "new ticket",
        "Printer on fire",
    )
    with scopes_disabled():  # the row is read outside its tenant
        assert row.ticket.requester.email == "carol@customer.test"
    assert raw_mail.read(row.sha256) == raw


def test_an_indented_first_field_is_read_from_its_name():
    raw = b" " + MESSAGE
    assert header_block_start(raw) == (1, ["whitespace before the first field"])
    assert parse_message(raw).from_.address == "carol@customer.test"
