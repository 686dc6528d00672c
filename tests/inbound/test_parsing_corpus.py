"""Every message of the shared corpus goes through parse_message cleanly."""

import json

import pytest

from inbound_mail.parsing import parse_message, to_json
from tests.inbound.corpus import all_messages, require_corpus

JSON_KEYS = {
    "message_id", "in_reply_to", "references", "from", "to", "cc", "reply_to", "subject",
    "date", "text", "text_full", "html", "attachments", "auto_generated", "auto_reason",
    "bounce", "forwarded_from", "bcc", "thread_index", "thread_topic", "skipped_before_headers",
}  # fmt: skip


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def test_parse_message_corpus_every_message_parses_on_the_primary_path():
    require_corpus()
    problems = {}
    count = 0
    for name, raw in all_messages():
        count += 1
        msg = parse_message(raw)
        data = to_json(msg)
        assert set(data) == JSON_KEYS, name
        # Encodable as UTF-8 JSON means no lone surrogates; PostgreSQL text also
        # refuses NUL, so neither may leak out of the parser.
        json.dumps({"json": data, "headers": msg.headers}, ensure_ascii=False).encode("utf-8")
        if any("\x00" in s for s in _strings([data, msg.headers])):
            problems[name] = "NUL in output"
        fallbacks = [d for d in msg.defects if "failed" in d]
        if fallbacks:
            problems[name] = fallbacks
    assert count >= 700  # 699 files, mbox containers split
    assert problems == {}


@pytest.mark.parametrize(
    ("path", "expected_count"),
    [
        ("public/mimekit/mbox/simple.mbox.txt", 3),
        ("public/mimekit/mbox/unmunged.mbox.txt", 2),
        ("public/roundcube/src/import.mbox", 3),
    ],
)
def test_split_mbox_container_yields_each_message(path, expected_count):
    require_corpus()
    names = [name for name, _ in all_messages() if name.startswith(path + "#")]
    assert len(names) == expected_count
