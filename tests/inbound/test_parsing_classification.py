"""Bounce, auto-reply and forward detection on the labels the corpus sources give."""

import re

import pytest

from tests.inbound.corpus import PUBLIC, parsed, report_rate, require_corpus

SISIMAI = "public/sisimai-set-of-emails"
BOUNCEPARSER = "public/bounceparser/t/corpus"
STATUS_RE = re.compile(r"^(?:[245]\.\d{1,3}\.\d{1,3})?$")


def _files(relative, pattern="*"):
    require_corpus()
    return sorted(
        str(p.relative_to(PUBLIC.parent))
        for p in (PUBLIC.parent / relative).rglob(pattern)
        if p.is_file()
    )


def _sisimai_bounces():
    return [
        f
        for f in _files(f"{SISIMAI}/maildir")
        if re.search(r"/(?:lhost|rhost|rfc3464)-[^/]+$|/err/", f)
    ]


def test_find_bounce_sisimai_bounces_have_recipients():
    files = _sisimai_bounces()
    found = [f for f in files if parsed(f).bounce and parsed(f).bounce.recipients]
    # Measured: 87 of 87. The floor leaves room for two regressions in odd MTAs.
    assert report_rate("sisimai bounces with recipient", len(found), len(files)) >= 0.97
    assert len(files) == 87


def test_find_bounce_sisimai_bounce_fields_are_well_formed():
    for name in _sisimai_bounces():
        bounce = parsed(name).bounce
        if bounce is None:
            continue
        assert bounce.action in {"failed", "delayed", "delivered", "relayed", "expanded"}, name
        assert STATUS_RE.match(bounce.status), (name, bounce.status)
        assert all("@" in r and r == r.lower() for r in bounce.recipients), name
        assert parsed(name).auto_generated, name


@pytest.mark.parametrize(
    ("name", "recipient", "status", "message_id"),
    [
        (
            "maildir/bsd/lhost-exim-01.eml",
            "kijitora@example.ed.jp",
            "5.7.0",
            "E1P1ce6-000Egt-GZ@e1.example.org",
        ),
        (
            "maildir/bsd/lhost-gmail-01.eml",
            "userunknown@example.jp",
            "5.1.1",
            "D992C2C3-F175-4C4D-97E2-53A90E4E5BF5@gmail.com",
        ),
        (
            "maildir/bsd/lhost-office365-01.eml",
            "kijitora@example.com",
            "5.1.10",
            "FFFFFFFF.EEEEEEEE@example.ed.jp",
        ),
        ("maildir/bsd/lhost-qmail-13.eml", "nekochan@cx.libsisimai.com", "5.1.2", None),
        ("maildir/bsd/rfc3464-01.eml", "userunknown@bouncehammer.jp", "5.1.1", None),
    ],
)
def test_find_bounce_sisimai_examples_exact(name, recipient, status, message_id):
    require_corpus()
    bounce = parsed(f"{SISIMAI}/{name}").bounce
    assert bounce is not None
    assert bounce.recipients == [recipient]
    assert bounce.status == status
    assert bounce.action == "failed"
    assert bounce.is_hard
    if message_id:
        assert bounce.original_message_id == message_id


def test_classify_sisimai_rfc3834_are_auto_replies_not_bounces():
    files = _files(f"{SISIMAI}/maildir", "rfc3834-*")
    assert len(files) == 5
    for name in files:
        assert parsed(name).auto_generated, name
        assert parsed(name).bounce is None, name


def test_find_bounce_sisimai_not_bounce_folder_is_not_bounce():
    files = _files(f"{SISIMAI}/maildir/not")
    assert len(files) == 2
    assert [f for f in files if parsed(f).bounce is not None] == []


BOUNCEPARSER_AUTOREPLIES = {"autoreply.msg", "aol-vacation.msg", "polish-autoreply.msg",
                            "bluebottle.msg", "warning-6.msg"}  # fmt: skip
# Spam that BounceParser's tests feed in as "not a bounce" (the spam-rejection* files
# are real rejection bounces).
BOUNCEPARSER_SPAM = {"spam-bogus-email-in-report.msg", "spam-lots-of-bogus-addresses.msg",
                     "spam-with-badly-parsed-email.msg"}  # fmt: skip


def test_classify_bounceparser_vacation_replies_are_auto_not_bounce():
    names = [f for f in _files(BOUNCEPARSER) if f.rsplit("/", 1)[1] in BOUNCEPARSER_AUTOREPLIES]
    assert len(names) == 2  # autoreply, bluebottle and warning-6 are not in the subset
    for name in names:
        assert parsed(name).auto_generated, name
        assert parsed(name).bounce is None, name


def test_find_bounce_bounceparser_spam_is_not_bounce():
    names = [f for f in _files(BOUNCEPARSER) if f.rsplit("/", 1)[1] in BOUNCEPARSER_SPAM]
    assert len(names) == 3
    assert [n for n in names if parsed(n).bounce is not None] == []


def test_find_bounce_bounceparser_bounces_rate():
    skip = BOUNCEPARSER_AUTOREPLIES | BOUNCEPARSER_SPAM
    names = [f for f in _files(BOUNCEPARSER) if f.rsplit("/", 1)[1] not in skip]
    found = [n for n in names if parsed(n).bounce and parsed(n).bounce.recipients]
    # Measured 46 of 48: aol.attachment names only a local part, no-message-collected
    # names nobody.
    assert report_rate("bounceparser bounces", len(found), len(names)) >= 0.93


@pytest.mark.parametrize(
    ("name", "action"),
    [
        ("public/flanker/bounce/no-mx.eml", "delayed"),
        ("public/bounceparser/t/corpus/warning-8.msg", "delayed"),
        ("public/sisimai-set-of-emails/maildir/bsd/lhost-x1-04.eml", "delayed"),
        # "Cannot send message for 5 days": Action failed with a 4.x.x status.
        ("public/flanker/bounce/delayed.eml", "failed"),
        ("public/flanker/bounce/mailbox-full.eml", "failed"),
    ],
)
def test_find_bounce_action_failed_or_delayed(name, action):
    require_corpus()
    bounce = parsed(name).bounce
    assert bounce is not None
    assert bounce.action == action
    assert bounce.is_hard is (action == "failed")


@pytest.mark.parametrize(
    "name",
    [
        "public/discourse/auto_generated_precedence.eml",
        "public/discourse/auto_reply.eml",
        "public/chatwoot/auto_reply.eml",
        "public/chatwoot/auto_reply_with_auto_submitted.eml",
        "public/gitlab/auto_reply.eml",
    ],
)
def test_classify_labelled_auto_replies(name):
    require_corpus()
    msg = parsed(name)
    assert msg.auto_generated
    assert msg.auto_reason
    assert msg.bounce is None


@pytest.mark.parametrize(
    ("name", "recipient"),
    [
        ("public/discourse/bounced_email.eml", "linux-admin@b-s-c.co.jp"),
        ("public/discourse/hard_bounce_via_verp.eml", "linux-admin@b-s-c.co.jp"),
        ("public/chatwoot/bounced_gmail.eml", "alex.jones@fictionalcorp.com"),
    ],
)
def test_find_bounce_labelled_bounces(name, recipient):
    require_corpus()
    msg = parsed(name)
    assert msg.bounce is not None
    assert msg.bounce.recipients == [recipient]
    assert msg.bounce.action == "failed"
    assert msg.auto_generated


@pytest.mark.parametrize(
    ("name", "display", "address"),
    [
        ("public/discourse/forwarded_email_3.eml", "Un Français", "un@francais.fr"),
        ("public/discourse/forwarded_email_4.eml", "Some One", "some@one.com"),
    ],
)
def test_find_forwarded_sender_labelled_forwards(name, display, address):
    require_corpus()
    msg = parsed(name)
    assert (msg.forwarded_from.name, msg.forwarded_from.address) == (display, address)
    assert not msg.auto_generated
    # A forward's content is the point of the message: it is kept, not cut as history.
    assert address in msg.text


def test_find_forwarded_sender_gitlab_server_forward_is_not_a_forward():
    # GitLab's "forwarded_new_issue" was forwarded by the mail server (Delivered-To);
    # its content is the customer's own mail, not a forwarded message.
    require_corpus()
    msg = parsed("public/gitlab/forwarded_new_issue.eml")
    assert msg.forwarded_from is None
    assert msg.delivered_to == ["incoming+gitlabhq/gitlabhq+auth_token@appmail.adventuretime.ooo",
                                "support@adventuretime.ooo"]  # fmt: skip
    assert not msg.auto_generated


def test_classify_manifest_precision_of_bounces():
    """Outside the corpus's bounce-dsn label, only messages that are bounces anyway."""
    from tests.inbound.corpus import manifest

    extra = sorted(
        e.path for e in manifest() if parsed(e.path).bounce and "bounce-dsn" not in e.categories
    )
    # warning-5: "You sent mail to a@b.c. That's not a valid user here." from "<>";
    # mbox-1 is an mbox holding a bounce (category "other").
    assert extra == [
        "public/bounceparser/t/corpus/warning-5.msg",
        "public/sisimai-set-of-emails/mailbox/mbox-1",
    ]
