"""parse_message against the expected results other projects ship with their fixtures.

Each test compares every fixture and collects the mismatches; the assertion is that the
mismatches are exactly the documented exceptions below, each one a case where our
answer is defensibly better or where the expectation encodes the other project's
specifics. A new mismatch or a fixed exception both fail the test.
"""

import json
import re
from pathlib import PurePosixPath

from tests.inbound.corpus import (
    PUBLIC,
    collapse,
    load_ruby_yaml,
    parsed,
    report_rate,
    require_corpus,
)

# --------------------------------------------------------------------------- Zammad

ZAMMAD_EXCEPTIONS = {
    ("mail046", "from_name"): "raw 8-bit GB2312 name; Zammad shows cp1250 mojibake, "
    "we decode it with the charsets the message declares",
    ("mail065", "from_name"): "a comma inside an encoded-word split the address in "
    "Zammad ('=20Andreas?='); we decode 'Bürling, Andreas'",
    ("mail053", "attachments"): "Zammad names a nameless text/rfc822-headers part 'file'; "
    "we use its Content-Description",
    ("mail064", "attachments"): "windows-1258 combining accents; Zammad decoded as cp1252, "
    "we decode cp1258 and NFC-normalise ('d\u2019écran')",
    ("mail073", "attachments"): "RFC 2231 value labelled us-ascii holds %F6; Zammad gives "
    "U+FFFD, we read the byte as cp1252 ('Wölbung')",
}


def _zammad_fields(box):
    expected = load_ruby_yaml(box.with_suffix(".yml"))
    msg = parsed(str(box.relative_to(PUBLIC.parent)))
    names = [
        a["filename"]
        for a in expected.get("attachments") or []
        if not (a.get("preferences") or {}).get("original-format")
    ]
    return {
        "subject": (collapse(expected.get("subject")), msg.subject),
        "from_email": (
            (expected.get("from_email") or "").lower(),
            msg.from_.address if msg.from_ else "",
        ),
        "from_name": (
            collapse(expected.get("from_display_name")),
            msg.from_.name if msg.from_ else "",
        ),
        "attachments": (sorted(names), sorted(a.filename for a in msg.attachments)),
    }


def test_parse_message_zammad_expectations_match_except_documented():
    require_corpus()
    boxes = sorted((PUBLIC / "zammad").glob("mail*.box"))
    boxes = [b for b in boxes if b.with_suffix(".yml").exists()]
    mismatches, matched = {}, {}
    for box in boxes:
        for field, (expected, got) in _zammad_fields(box).items():
            matched[field] = matched.get(field, 0) + (expected == got)
            if expected != got:
                mismatches[(box.stem, field)] = (expected, got)
    for field, count in matched.items():
        report_rate(f"zammad {field}", count, len(boxes))
    assert len(boxes) >= 68
    # Subject and sender address have no exceptions: 100%.
    assert matched["subject"] == len(boxes)
    assert matched["from_email"] == len(boxes)
    assert set(mismatches) == set(ZAMMAD_EXCEPTIONS), mismatches


# --------------------------------------------------------------------------- imap_tools

DSN_PARTS = (
    "imap_tools (Python's email) does not count message/delivery-status parts; we list "
    "them as attachments, as Zammad does"
)

IMAP_TOOLS_EXCEPTIONS = {
    ("attachment_emails/attachment_with_encoded_name", "attachments"): "8-bit byte in an "
    "ISO-2022-JP RFC 2231 value: imap_tools gives U+FFFD, we try CP932 (Japanese mail "
    "often mislabels Shift_JIS); both lossy",
    ("error_emails/invalid_subject_characters", "subject"): "imap_tools drops the raw 8-bit "
    "bytes; we decode them ('Formação')",
    ("error_emails/missing_body", "to"): "'<Undisclosed-Recipient:@mailman.enron.com;>' is "
    "not an address; we drop it instead of returning '' and '@mailman.enron.com'",
    ("mime_emails/raw_email_with_mimepart_without_content_type", "attachments"): DSN_PARTS,
    ("multipart_report_emails/multi_address_bounce1", "attachments"): DSN_PARTS,
    ("multipart_report_emails/report_422", "attachments"): DSN_PARTS,
    ("plain_emails/raw_email_incorrect_header", "subject"): "the stdlib ends the headers at "
    "a stray line; we fold it into the previous field and read the headers below it",
    ("plain_emails/raw_email_incorrect_header", "from"): "same stray header line",
    ("plain_emails/raw_email_incorrect_header", "to"): "same stray header line",
    ("plain_emails/raw_email_with_at_display_name", "to"): "'Mikel@Lindsaar <raasdnil@...>' "
    "is one address with an unquoted display name, not two addresses",
    ("rfc2822/example14", "subject"): "RFC 2047 6.2 keeps the whitespace between plain text "
    "and an encoded-word ('TEST テスト'); imap_tools drops it",
}


def _attachments_match(expected, got):
    # imap_tools reports nameless parts as ""; we name them, so only count those.
    names = [a["filename"] for a in expected]
    return len(names) == len(got) and all(n in got for n in names if n)


def _imap_tools_mismatches(path):
    expected = json.loads(path.read_text("utf-8"))
    eml = path.with_name(path.name.replace(".expected.json", ".eml"))
    msg = parsed(str(eml.relative_to(PUBLIC.parent)))
    got_names = [a.filename for a in msg.attachments]
    checks = {
        "subject": collapse(expected["subject"]) == msg.subject,
        "from": expected["from_"].lower() == (msg.from_.address if msg.from_ else ""),
        "to": _emails(expected["to_values"]) == [a.address for a in msg.to],
        "cc": _emails(expected["cc_values"]) == [a.address for a in msg.cc],
        "attachments": _attachments_match(expected["attachments"], got_names),
    }
    return {field for field, ok in checks.items() if not ok}


def _emails(values):
    return list(dict.fromkeys(v["email"].lower() for v in values))  # we de-duplicate


def test_parse_message_imap_tools_expectations_match_except_documented():
    require_corpus()
    root = PUBLIC / "imap-tools"
    files = sorted(root.rglob("*.expected.json"))
    mismatches = set()
    for path in files:
        key = str(PurePosixPath(path.relative_to(root))).replace(".expected.json", "")
        mismatches |= {(key, field) for field in _imap_tools_mismatches(path)}
    for field in ("subject", "from", "to", "cc", "attachments"):
        failed = sum(1 for _, f in mismatches if f == field)
        report_rate(f"imap_tools {field}", len(files) - failed, len(files))
    assert len(files) >= 66
    assert mismatches == set(IMAP_TOOLS_EXCEPTIONS)


# --------------------------------------------------------------------------- stalwart

STALWART_EXCEPTIONS = {
    ("malformed/002", "attachment_count"): "multipart/mixed without any part: stalwart makes "
    "the body an attachment, we show it as text",
    ("malformed/012", "attachment_count"): "unterminated inner multipart: we see three "
    "message/rfc822 parts where stalwart nests the third",
    ("legacy/035", "attachment_names"): 'name="C:\\TEMP\\nsmail39.png": stalwart reads the '
    "backslashes as quoted-pairs ('C:TEMPnsmail39.png'); we keep the last path component",
    ("legacy/039", "attachment_names"): "same Netscape temp-path names",
    ("malformed/010", "attachment_count"): "we also list what is inside an attached message "
    "(here a nested message), beside the message itself; stalwart counts the top level only",
    ("thirdparty/007", "attachment_count"): "same: the file inside an attached message",
}


def _header(part, name):
    return next((h["value"] for h in part["headers"] if h["name"] == name), None)


def _text_value(value):
    if value in (None, "Empty"):
        return ""
    if isinstance(value, dict):
        return value.get("Text") if "Text" in value else " ".join(value.get("TextList", []))
    return None


def _attachment_name(part):
    for header, attribute in (("content_disposition", "filename"), ("content_type", "name")):
        value = _header(part, header)
        if isinstance(value, dict) and "ContentType" in value:
            for attr in value["ContentType"].get("attributes") or []:
                if attr["name"] == attribute:
                    return attr["value"]
    return None


def _same_text(expected, got):
    # Stalwart writes U+FFFD where it could not decode; we may decode those bytes.
    if "\ufffd" not in expected:
        return expected == got
    pattern = ".+?".join(re.escape(chunk) for chunk in expected.split("\ufffd"))
    return re.fullmatch(pattern, got) is not None


def _stalwart_mismatches(path, expected):
    msg = parsed(str(path.with_suffix(".eml").relative_to(PUBLIC.parent)))
    parts = expected["parts"]
    found = set()
    subject = _text_value(_header(parts[0], "subject"))
    if subject is not None and not _same_text(collapse(subject), msg.subject):
        found.add("subject")
    if any(p.get("is_encoding_problem") for p in parts):
        return found  # stalwart turns parts with encoding problems into attachments
    if len(expected["attachments"]) != len(msg.attachments):
        found.add("attachment_count")
    got = [a.filename for a in msg.attachments]
    for index in expected["attachments"]:
        name = _attachment_name(parts[index])
        if name and not any(_same_text(PurePosixPath(name).name, g) for g in got):
            found.add("attachment_names")
    return found


def test_parse_message_stalwart_expectations_match_except_documented():
    require_corpus()
    root = PUBLIC / "stalwart-mail-parser"
    files = [p for p in sorted(root.rglob("*.json")) if p.with_suffix(".eml").exists()]
    mismatches = set()
    for path in files:
        expected = json.loads(path.read_text("utf-8"))
        key = str(PurePosixPath(path.relative_to(root)).with_suffix(""))
        mismatches |= {(key, field) for field in _stalwart_mismatches(path, expected)}
    for field in ("subject", "attachment_count", "attachment_names"):
        failed = sum(1 for _, f in mismatches if f == field)
        report_rate(f"stalwart {field}", len(files) - failed, len(files))
    assert len(files) >= 64
    assert mismatches == set(STALWART_EXCEPTIONS)
