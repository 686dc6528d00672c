"""routing.summarize reads the header block without the full parse, and must answer exactly
what the full parse of that block answers: over the whole corpus and on inputs made to send
the full parse down its repair paths."""

import pytest

from inbound_mail import parsing, routing
from inbound_mail.parsing import parse_message, pipeline
from tests.inbound import corpus
from tests.inbound.mails import mail


def _by_full_parse(raw: bytes) -> routing.HeaderSummary:
    parsed = parse_message(routing.header_block(raw))
    return routing.HeaderSummary(
        message_id=parsed.message_id[:255],
        from_address=(parsed.from_.address if parsed.from_ else "")[:254],
        subject=parsed.subject[:300],
        recipients=routing.header_recipients(parsed),
    )


def test_summary_equals_the_full_parse_over_the_corpus(monkeypatch):
    corpus.require_corpus()
    messages = list(corpus.all_messages())
    differ = [name for name, raw in messages if routing.summarize(raw) != _by_full_parse(raw)]
    full_parses = []
    monkeypatch.setattr(pipeline, "parse_message", full_parses.append)
    shortcut = 0
    for _name, raw in messages:
        full_parses.clear()
        parsing.parse_header_block(routing.header_block(raw))
        shortcut += not full_parses
    assert (len(messages), differ) == (704, [])
    # The comparison means something only if the shortcut answered for most of them.
    assert shortcut > 0.9 * len(messages)


@pytest.mark.parametrize(
    "raw",
    [
        # A stray line the full parse folds back into the header (parsing._repair_header_block).
        b"X-Tracker: abc\nDEF\nFrom: a@b.test\nTo: support@acme.test\nSubject: s\n\nbody",
        # A quoted boundary folded over two lines (parsing._repair_folded_boundary).
        b'From: a@b.test\nTo: support@acme.test\nContent-Type: multipart/mixed; boundary="a\n'
        b' b"; charset=koi8-r\nSubject: \xf0\xd2\xc9\n\n--a b\n\nx\n--a b--\n',
        # A blank line header_block does not see ("\n\r\n"), so the block has a body after
        # all: a MIME part, or a message/rfc822 root's inner message, whose charset the full
        # parse uses to decode the raw 8-bit subject.
        b"From: a@b.test\nTo: support@acme.test\nSubject: \xf0\xd2\xc9\n"
        b"Content-Type: multipart/mixed; boundary=x\n\r\n"
        b"--x\nContent-Type: text/plain; charset=koi8-r\n\nhi\n--x--\n",
        b"From: a@b.test\nTo: support@acme.test\nSubject: \xf0\xd2\xc9\n"
        b"Content-Type: message/rfc822\n\r\nContent-Type: text/plain; charset=koi8-r\n\nhi\n",
        b"From: a@b.test\nTo: support@acme.test\nContent-Type: message/rfc822\n\nFrom: c@d\n",
        # Raw 8-bit subject decoded with the root's charset.
        b"From: a@b.test\nTo: support@acme.test\nSubject: \xf0\xd2\xc9\xd7\xc5\xd4\n"
        b"Content-Type: text/plain; charset=koi8-r\n\nbody",
        # A From_ line (mbox) before the header fields.
        b"From a@b.test Mon Jan  1 00:00:00 2024\nFrom: a@b.test\nTo: x@y.test\n\nbody",
        # No header section at all, and one that never ends.
        b"\r\n\r\nFrom: a@b.test\nTo: x@y.test\n\nbody",
        b"From: a@b.test\nTo: x@y.test\nSubject: " + b"x" * 600_000,
        mail(
            to="Support <support@acme.test>", cc="help@globex.test", subject="=?utf-8?q?G=C3=BC?="
        ),
    ],
)
def test_summary_equals_the_full_parse_on_repair_paths(raw):
    assert routing.summarize(raw) == _by_full_parse(raw)
