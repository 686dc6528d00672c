"""Bounces in the shapes mail servers send, written by hand after the texts those servers use
(docs/bounce-shapes.md lists each shape with its test), and people's mail that only talks
about failed delivery, which must never be taken for a bounce."""

import json

import pytest

from inbound_mail import classify
from inbound_mail.parsing import parse_message
from tests.inbound.mails import mail
from tickets import mail_tokens
from tickets.models import Contact, Ticket
from tickets.services.contacts import contact_get_or_create

ORIGINAL_ID = "20240301101500.4711@helpdesk.example"
ORIGINAL_HEADERS = (
    "From: Acme Support <support@acme.test>\n"
    "To: Carol <carol@customer.test>\n"
    "Subject: [#12] Printer on fire\n"
    "Date: Fri, 01 Mar 2024 10:15:00 +0000\n"
    f"Message-ID: <{ORIGINAL_ID}>\n"
)


def _raw(headers: str, body: str) -> bytes:
    base = "Date: Fri, 01 Mar 2024 10:16:00 +0000\nMessage-ID: <b1.x@mx.customer.test>\n"
    return (base + headers.strip("\n") + "\n\n" + body).replace("\n", "\r\n").encode()


def _multipart(
    headers: str, parts: list[tuple[str, str]], subtype: str = "mixed", boundary: str = "==b0=="
) -> bytes:
    head = (
        headers.strip("\n") + f"\nMIME-Version: 1.0\nContent-Type: multipart/{subtype}; "
        f'boundary="{boundary}"'
    )
    if subtype == "report":
        head += "; report-type=delivery-status"
    body = "".join(f"--{boundary}\nContent-Type: {ctype}\n\n{text}\n" for ctype, text in parts)
    return _raw(head, body + f"--{boundary}--\n")


def _bounce(raw: bytes):
    parsed = parse_message(raw)
    assert classify.classify(parsed, spam_rule_for=lambda _a: None).kind == classify.BOUNCE
    assert parsed.auto_generated
    return parsed.bounce


def _not_bounce(raw: bytes):
    parsed = parse_message(raw)
    assert parsed.bounce is None
    return parsed


# -- MTAs' own texts --------------------------------------------------------------------------


QMAIL = """Hi. This is the qmail-send program at mx.customer.test.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<carol@customer.test>:
192.0.2.10 does not like recipient.
Remote host said: 550 5.1.1 <carol@customer.test>: Recipient address rejected: User unknown
Giving up on 192.0.2.10.

--- Below this line is a copy of the message.

Return-Path: <support@acme.test>
Received: (qmail 4711 invoked by uid 89); 1 Mar 2024 10:15:01 -0000
{headers}
The printer is fixed.
"""


def test_qmail_permanent_error_names_recipient_and_original():
    bounce = _bounce(
        _raw(
            "From: MAILER-DAEMON@mx.customer.test\nTo: support@acme.test\nSubject: failure notice",
            QMAIL.format(headers=ORIGINAL_HEADERS),
        )
    )
    assert (bounce.recipients, bounce.status, bounce.action) == (
        ["carol@customer.test"],
        "5.1.1",
        "failed",
    )
    assert bounce.original_message_id == ORIGINAL_ID
    assert bounce.is_permanent


def test_qmail_without_status_code_is_permanent_by_its_words():
    body = QMAIL.replace(
        "Remote host said: 550 5.1.1 <carol@customer.test>: Recipient address rejected: "
        "User unknown\n",
        "Sorry, no mailbox here by that name. (#5.1.1)\n",
    ).replace("192.0.2.10 does not like recipient.\n", "")
    bounce = _bounce(
        _raw(
            "From: MAILER-DAEMON@mx.customer.test\nTo: support@acme.test\nSubject: failure notice",
            body.format(headers=ORIGINAL_HEADERS),
        )
    )
    assert bounce.recipients == ["carol@customer.test"]
    assert bounce.is_permanent


DMA = """This is the DragonFly Mail Agent v0.13 at mail.acme-relay.test.

There was an error delivering your mail to <carol@customer.test>.

mx.customer.test [192.0.2.25] did not like our RCPT TO:
552 5.2.2 <carol@customer.test>: Recipient address rejected: Mailbox full

Original message follows.

{headers}
The printer is fixed.
"""


def test_dragonfly_mail_agent_mailbox_full():
    bounce = _bounce(
        _raw(
            "From: MAILER-DAEMON <MAILER-DAEMON@mail.acme-relay.test>\nTo: support@acme.test\n"
            "Subject: Mail delivery failed\n"
            "Received: from mail.acme-relay.test (DragonFly Mail Agent v0.13)",
            DMA.format(headers=ORIGINAL_HEADERS),
        )
    )
    assert (bounce.recipients, bounce.status) == (["carol@customer.test"], "5.2.2")
    assert bounce.original_message_id == ORIGINAL_ID


EXIM = """This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  carol@customer.test
    host mx.customer.test [192.0.2.7]
    SMTP error from remote mail server after RCPT TO:<carol@customer.test>:
    550 No such user here

------ This is a copy of the message, including all the headers. ------

{headers}
The printer is fixed.
"""


def test_exim_mail_delivery_failed_without_x_failed_recipients():
    bounce = _bounce(
        _raw(
            "From: Mail Delivery System <Mailer-Daemon@mail.acme-relay.test>\n"
            "To: support@acme.test\nSubject: Mail delivery failed: returning message to sender\n"
            "Auto-Submitted: auto-replied",
            EXIM.format(headers=ORIGINAL_HEADERS),
        )
    )
    assert (bounce.recipients, bounce.status, bounce.action) == (
        ["carol@customer.test"],
        "5.0.0",
        "failed",
    )
    assert bounce.original_message_id == ORIGINAL_ID


POSTFIX_TEXT = """This is the mail system at host mail.acme-relay.test.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<carol@customer.test>: host mx.customer.test[192.0.2.7] said: 550 5.1.1
    <carol@customer.test>: Recipient address rejected: User unknown in virtual
    mailbox table (in reply to RCPT TO command)
"""


def test_postfix_undelivered_mail_with_original_as_text_rfc822_headers():
    bounce = _bounce(
        _multipart(
            "From: MAILER-DAEMON@mail.acme-relay.test (Mail Delivery System)\n"
            "To: support@acme.test\nSubject: Undelivered Mail Returned to Sender",
            [("text/plain", POSTFIX_TEXT), ("text/rfc822-headers", ORIGINAL_HEADERS)],
        )
    )
    assert (bounce.recipients, bounce.status) == (["carol@customer.test"], "5.1.1")
    assert bounce.original_message_id == ORIGINAL_ID


def test_postfix_delay_warning_is_transient():
    text = (
        "This is the mail system at host mail.acme-relay.test.\n\n"
        "####################################################################\n"
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
        "####################################################################\n\n"
        "Your message could not be delivered for more than 4 hour(s).\n"
        "It will be retried until it is 5 day(s) old.\n\n"
        "<carol@customer.test>: connect to mx.customer.test[192.0.2.7]:25: "
        "Connection timed out\n"
    )
    bounce = _bounce(
        _multipart(
            "From: MAILER-DAEMON@mail.acme-relay.test (Mail Delivery System)\n"
            "To: support@acme.test\nSubject: Delayed Mail (still being retried)",
            [("text/plain", text), ("text/rfc822-headers", ORIGINAL_HEADERS)],
        )
    )
    assert bounce.recipients == ["carol@customer.test"]
    assert bounce.action == "delayed"
    assert not bounce.is_permanent


EXCHANGE = """Delivery has failed to these recipients or groups:

Carol (carol@customer.test)
The e-mail address you entered couldn't be found. Please check the recipient's e-mail
address and try to resend the message.

Diagnostic information for administrators:

Generating server: EX01.customer.test

carol@customer.test
#550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup ##
"""


def test_exchange_undeliverable_with_original_as_message_rfc822():
    bounce = _bounce(
        _multipart(
            "From: Microsoft Outlook <postmaster@customer.test>\nTo: support@acme.test\n"
            "Subject: Undeliverable: [#12] Printer on fire",
            [
                ("text/plain; charset=us-ascii", EXCHANGE),
                ("message/rfc822", ORIGINAL_HEADERS + "\nThe printer is fixed.\n"),
            ],
        )
    )
    assert (bounce.recipients, bounce.status) == (["carol@customer.test"], "5.1.10")
    assert bounce.original_message_id == ORIGINAL_ID


def test_gmail_delivery_status_notification_with_original_as_plain_text():
    text = (
        "** Address not found **\n\n"
        "Your message wasn't delivered to carol@customer.test because the address couldn't be "
        "found, or is unable to receive mail.\n\n"
        "The response from the remote server was:\n"
        "550 5.1.1 The email account that you tried to reach does not exist.\n"
    )
    bounce = _bounce(
        _multipart(
            "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
            "To: support@acme.test\nSubject: Delivery Status Notification (Failure)\n"
            "Auto-Submitted: auto-replied",
            [
                ("text/plain; charset=UTF-8", text),
                (
                    "text/plain; charset=UTF-8\nContent-Disposition: attachment; "
                    'filename="original.txt"',
                    ORIGINAL_HEADERS + "\nThe printer is fixed.\n",
                ),
            ],
        )
    )
    assert (bounce.recipients, bounce.status) == (["carol@customer.test"], "5.1.1")
    assert bounce.original_message_id == ORIGINAL_ID


def test_lotus_notes_was_not_delivered_to_because():
    body = (
        "Your message\n\n  Subject: [#12] Printer on fire\n\n"
        "was not delivered to:\n\n  carol@customer.test\n\n"
        "because:\n\n  User carol (carol@customer.test) not listed in Domino Directory\n"
    )
    bounce = _bounce(
        _multipart(
            "From: Postmaster@customer.test\nTo: support@acme.test\n"
            "Subject: DELIVERY FAILURE: User carol (carol@customer.test) not listed in "
            "Domino Directory",
            [("text/plain", body), ("message/rfc822", ORIGINAL_HEADERS + "\nFixed.\n")],
        )
    )
    assert bounce.recipients == ["carol@customer.test"]
    assert bounce.original_message_id == ORIGINAL_ID
    assert bounce.is_permanent


def test_yahoo_failure_notice():
    body = (
        "Sorry, we were unable to deliver your message to the following address.\n\n"
        "<carol@customer.test>:\n"
        "Remote host said: 554 delivery error: dd This user doesn't have a yahoo.com "
        "account (carol@customer.test) [0] - mta1.mail.yahoo.test [RCPT_TO]\n\n"
        "--- Below this line is a copy of the message.\n\n" + ORIGINAL_HEADERS + "\nFixed.\n"
    )
    bounce = _bounce(
        _raw(
            "From: MAILER-DAEMON@yahoo.test\nTo: support@acme.test\nSubject: Failure Notice",
            body,
        )
    )
    assert (bounce.recipients, bounce.status) == (["carol@customer.test"], "5.0.0")
    assert bounce.original_message_id == ORIGINAL_ID


def test_aol_mail_delivery_problem_with_local_part_only_recipient():
    body = (
        "Sorry support@acme.test. Your mail to the following recipients could not be "
        "delivered because they are not accepting mail from support@acme.test:\n\tcarol\n"
    )
    bounce = _bounce(
        _raw(
            "from: Mail Delivery Subsystem <MAILER-DAEMON@customer.test>\n"
            "To: <support@acme.test>\nSubject: Mail Delivery Problem\nReturn-Path: <>",
            body,
        )
    )
    # AOL names only the local part: the domain is the one the notice comes from.
    assert bounce.recipients == ["carol@customer.test"]


def test_bounce_without_delivery_status_part_and_without_system_sender():
    # A relay's bounce sent from an ordinary-looking address, but with a null envelope
    # sender and Auto-Submitted: the machine marks, then the recipient line.
    body = (
        "This is an automatically generated Delivery Status Notification.\n\n"
        "Delivery to the following recipients failed.\n\n       carol@customer.test\n\n"
    )
    bounce = _bounce(
        _multipart(
            "From: relay@customer.test\nTo: support@acme.test\nReturn-Path: <>\n"
            "Auto-Submitted: auto-generated (failure)\nSubject: Delivery Status Notification",
            [("text/plain", body), ("text/rfc822-headers", ORIGINAL_HEADERS)],
        )
    )
    assert bounce.recipients == ["carol@customer.test"]
    assert bounce.original_message_id == ORIGINAL_ID


# -- Japanese carriers ------------------------------------------------------------------------


def test_au_kddi_could_not_be_delivered_mailbox_full():
    body = (
        "Your mail sent on: Fri, 01 Mar 2024 19:15:00 +0900\n"
        "     Could not be delivered to: <carol@ezweb.test>\n"
        "     As their mailbox is full.\n\n"
        "Content-Type: message/rfc822\n\n" + ORIGINAL_HEADERS + "\nFixed.\n"
    )
    bounce = _bounce(
        _raw(
            "From: no-reply@app.auone-net.test\nTo: support@acme.test\n"
            "Subject: Mail System Error - Returned Mail",
            body,
        )
    )
    assert bounce.recipients == ["carol@ezweb.test"]
    assert bounce.original_message_id == ORIGINAL_ID
    assert not bounce.is_permanent  # a full mailbox empties again


def test_au_ezweb_user_unknown():
    body = (
        "The user(s) account is disabled.\n\n"
        "<carol@ezweb.test>: 550 user unknown (in reply to RCPT TO command)\n\n"
        "--------------------------------------------------\n" + ORIGINAL_HEADERS + "\nFixed.\n"
    )
    bounce = _bounce(
        _raw(
            "From: Postmaster@ezweb.test\nTo: support@acme.test\n"
            "Subject: Mail System Error - Returned Mail",
            body,
        )
    )
    assert (bounce.recipients, bounce.status) == (["carol@ezweb.test"], "5.0.0")
    assert bounce.original_message_id == ORIGINAL_ID
    assert bounce.is_permanent


def test_docomo_japanese_text_notice():
    body = (
        "このメールは、送信されたメールが配信できなかったことをお知らせするものです。\n\n"
        "以下の宛先へのメールは配信できませんでした。\n\n"
        "  carol@docomo.test\n\n"
        "理由: 550 Unknown user carol@docomo.test\n\n"
        "----- 元のメッセージのヘッダ -----\n" + ORIGINAL_HEADERS
    )
    bounce = _bounce(
        _raw(
            "From: Postmaster@docomo.test\nTo: support@acme.test\n"
            "Subject: =?UTF-8?B?" + _b64("配信不能メール") + "?=\n"
            "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit",
            body,
        )
    )
    assert bounce.recipients == ["carol@docomo.test"]
    assert bounce.original_message_id == ORIGINAL_ID
    assert bounce.is_permanent


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


# -- Amazon SES -------------------------------------------------------------------------------


SES_BOUNCE = {
    "notificationType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
            {
                "emailAddress": "carol@customer.test",
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            }
        ],
        "timestamp": "2024-03-01T10:15:05.000Z",
        "reportingMTA": "dsn; a1-2.smtp-out.eu-west-1.amazonses.com",
    },
    "mail": {
        "timestamp": "2024-03-01T10:15:00.000Z",
        "source": "support@acme.test",
        "messageId": "0102018df0c0a1b2-aaaa-bbbb-cccc-000000",
        "destination": ["carol@customer.test"],
        "headers": [
            {"name": "From", "value": "support@acme.test"},
            {"name": "Message-ID", "value": f"<{ORIGINAL_ID}>"},
        ],
    },
}


def test_ses_notification_by_sns_email_json():
    envelope = {
        "Type": "Notification",
        "MessageId": "5e1f-2a",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-bounces",
        "Message": json.dumps(SES_BOUNCE),
        "Timestamp": "2024-03-01T10:15:06.000Z",
    }
    bounce = _bounce(
        _raw(
            "From: AWS Notifications <no-reply@sns.amazonaws.com>\nTo: support@acme.test\n"
            "Subject: AWS Notification Message\nx-amz-sns-message-id: 5e1f-2a",
            json.dumps(envelope, indent=2) + "\n\n--\nIf you wish to stop receiving "
            "notifications from this topic, please click or visit the link below.\n",
        )
    )
    assert (bounce.recipients, bounce.status, bounce.action) == (
        ["carol@customer.test"],
        "5.1.1",
        "failed",
    )
    assert bounce.original_message_id == ORIGINAL_ID
    assert bounce.is_permanent


def test_ses_notification_raw_message_transient_mailbox_full():
    payload = json.loads(json.dumps(SES_BOUNCE))
    payload["bounce"].update(bounceType="Transient", bounceSubType="MailboxFull")
    payload["bounce"]["bouncedRecipients"][0].update(status="4.2.2")
    del payload["mail"]["headers"]
    bounce = _bounce(
        _raw(
            "From: no-reply@sns.amazonaws.com\nTo: support@acme.test\n"
            "Subject: AWS Notification Message",
            json.dumps(payload) + "\n",
        )
    )
    assert (bounce.recipients, bounce.status) == (["carol@customer.test"], "4.2.2")
    assert bounce.original_message_id == "0102018df0c0a1b2-aaaa-bbbb-cccc-000000"
    assert not bounce.is_permanent


def test_ses_delivery_notification_is_not_a_bounce():
    payload = {"notificationType": "Delivery", "mail": SES_BOUNCE["mail"],
               "delivery": {"recipients": ["carol@customer.test"],
                            "smtpResponse": "250 2.6.0 Message received"}}  # fmt: skip
    parsed = _not_bounce(
        _raw(
            "From: no-reply@sns.amazonaws.com\nTo: support@acme.test\n"
            "Subject: AWS Notification Message",
            json.dumps(payload) + "\n",
        )
    )
    assert parsed.auto_generated  # a no-reply notifier: never a ticket on its own


def test_ses_mime_dsn():
    dsn = (
        "Reporting-MTA: dns; a1-2.smtp-out.eu-west-1.amazonses.com\n\n"
        "Action: failed\nFinal-Recipient: rfc822; carol@customer.test\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\nStatus: 5.1.1\n"
    )
    bounce = _bounce(
        _multipart(
            "From: MAILER-DAEMON@email-bounces.amazonses.com\nTo: support@acme.test\n"
            "Subject: Delivery Status Notification (Failure)\nX-SES-Outgoing: 2024.03.01",
            [
                ("text/plain", "An error occurred while trying to deliver the mail to the "
                 "following recipients:\ncarol@customer.test\n"),
                ("message/delivery-status", dsn),
                ("message/rfc822", ORIGINAL_HEADERS + "\nFixed.\n"),
            ],
            subtype="report",
        )
    )  # fmt: skip
    assert (bounce.recipients, bounce.status) == (["carol@customer.test"], "5.1.1")
    assert bounce.original_message_id == ORIGINAL_ID


# -- mailing-list managers --------------------------------------------------------------------


def test_mailman_rejects_non_member_post():
    body = (
        "Your message to the Printers mailing-list was rejected for the following\n"
        "reasons:\n\nNon-members are not allowed to post messages to this list.\n\n"
        "The original message as received by Mailman is attached.\n"
    )
    bounce = _bounce(
        _multipart(
            "From: printers-owner@lists.customer.test\nTo: support@acme.test\n"
            "Subject: Your message to Printers rejected\nPrecedence: bulk\n"
            "X-BeenThere: printers@lists.customer.test",
            [
                ("text/plain", body),
                (
                    "message/rfc822",
                    ORIGINAL_HEADERS.replace("carol@customer.test", "printers@lists.customer.test")
                    + "\nFixed.\n",
                ),
            ],
        )
    )
    assert (bounce.recipients, bounce.action) == (["printers@lists.customer.test"], "failed")
    assert bounce.status.startswith("5.7")
    assert bounce.original_message_id == ORIGINAL_ID


def test_mailman_moderation_hold_is_not_a_failure():
    body = (
        "Your mail to 'Printers' with the subject\n\n    [#12] Printer on fire\n\n"
        "Is being held until the list moderator can review it for approval.\n\n"
        "The reason it is being held:\n\n    Post by non-member to a members-only list\n"
    )
    bounce = _bounce(
        _raw(
            "From: printers-bounces@lists.customer.test\nTo: support@acme.test\n"
            "Subject: Your message to Printers awaits moderator approval\nPrecedence: bulk",
            body,
        )
    )
    assert bounce.recipients == ["printers@lists.customer.test"]
    assert bounce.action == "delayed"


def test_google_groups_you_may_not_have_permission_to_post():
    body = (
        "Hello support@acme.test,\n\n"
        "We're writing to let you know that the group you tried to contact (printers) may not "
        "exist, or you may not have permission to post messages to the group. A few more "
        "details on why you weren't able to post:\n\n"
        " * You might have spelled or formatted the group name incorrectly.\n"
        " * You may need to join the group before receiving permission to post.\n\n"
        "----- Original message -----\n\n" + ORIGINAL_HEADERS + "\nFixed.\n"
    )
    bounce = _bounce(
        _raw(
            "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
            "To: support@acme.test\nSubject: Delivery Status Notification (Failure)\n"
            "X-Failed-Recipients: printers@googlegroups.test",
            body,
        )
    )
    assert bounce.recipients == ["printers@googlegroups.test"]
    assert bounce.original_message_id == ORIGINAL_ID


def test_sympa_not_allowed_to_send_to_list():
    body = (
        "Your message for list 'printers' (attached below) was rejected.\n"
        "You are not allowed to send this message for the following reason:\n\n"
        "    The sender is not a member of the list printers@lists.customer.test\n"
    )
    bounce = _bounce(
        _multipart(
            "From: SYMPA <sympa@lists.customer.test>\nTo: support@acme.test\n"
            "Subject: Message distribution: Authorization denied\nAuto-Submitted: auto-replied",
            [("text/plain", body), ("message/rfc822", ORIGINAL_HEADERS + "\nFixed.\n")],
        )
    )
    assert bounce.recipients == ["printers@lists.customer.test"]
    assert bounce.is_permanent


def test_majordomo_you_are_not_a_member():
    body = (
        "You are not a member of the printers list, so your message to "
        "printers@lists.customer.test has been rejected.\n\n>>>> " + "original follows\n"
    )
    bounce = _bounce(
        _raw(
            "From: majordomo@lists.customer.test\nTo: support@acme.test\n"
            "Subject: Your post to printers was rejected",
            body,
        )
    )
    assert bounce.recipients == ["printers@lists.customer.test"]


# -- not bounces ------------------------------------------------------------------------------


GMAIL_BOUNCE_TEXT = (
    "Delivery to the following recipient failed permanently:\n\n     sales@acme.test\n\n"
    "Technical details of permanent failure:\n550 5.1.1 The email account that you tried to "
    "reach does not exist.\n"
)


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        # A customer forwarding the bounce they got, asking for help.
        (
            "Fwd: Delivery Status Notification (Failure)",
            "Hi, I tried to email your sales team and got this back, can you help?\n\n"
            "---------- Forwarded message ---------\n"
            "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
            "Subject: Delivery Status Notification (Failure)\nTo: <carol@customer.test>\n\n"
            + GMAIL_BOUNCE_TEXT,
        ),
        # A customer replying to our notice with the words of a bounce.
        (
            "Re: Undeliverable: your invoice",
            "Delivery failed for sales@acme.test again: 550 5.1.1 user unknown.\n"
            "Please fix your address book.\n",
        ),
        # Human words about failed delivery, with a status code and an address.
        (
            "Mail delivery failed",
            "Hello, the following recipients failed: bob@customer.test\n"
            "Our admin says the server answered 550 5.7.1 rejected. Can you check?\n",
        ),
        (
            "Returned mail: see transcript",
            "I keep getting 'returned mail' when I write to billing@acme.test. "
            "The message could not be delivered to billing@acme.test (user unknown).\n",
        ),
        (
            "Nicht zugestellt / undeliverable",
            "Meine Mail an rechnung@acme.test ist nicht zugestellt worden: "
            "550 5.1.1 recipient rejected. Bitte prüfen.\n",
        ),
        # Someone asking about the mailing list.
        (
            "You are not a member?",
            "When I post to printers@lists.customer.test I get 'you are not a member of "
            "this list'. Can you add me?\n",
        ),
    ],
)
def test_person_writing_about_failed_delivery_is_not_a_bounce(subject, body):
    parsed = _not_bounce(
        _raw(f"From: Carol <carol@customer.test>\nTo: support@acme.test\nSubject: {subject}", body)
    )
    assert not parsed.auto_generated
    verdict = classify.classify(parsed, spam_rule_for=lambda _a: None)
    assert verdict.kind == classify.NORMAL


def test_forwarded_bounce_attached_as_message_is_not_a_bounce():
    dsn = _multipart(
        "From: MAILER-DAEMON@mx.customer.test\nTo: carol@customer.test\n"
        "Subject: Undelivered Mail Returned to Sender",
        [("text/plain", POSTFIX_TEXT), ("message/delivery-status",
          "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; sales@acme.test\n"
          "Action: failed\nStatus: 5.1.1\n")],
        subtype="report",
        boundary="==inner==",
    ).decode()  # fmt: skip
    parsed = _not_bounce(
        _multipart(
            "From: Carol <carol@customer.test>\nTo: support@acme.test\n"
            "Subject: Fwd: Undelivered Mail Returned to Sender",
            [("text/plain", "See the attached bounce, what is wrong?\n"),
             ("message/rfc822", dsn.replace("\r\n", "\n"))],
        )
    )  # fmt: skip
    assert not parsed.auto_generated


# -- what a bounce does, end to end -----------------------------------------------------------


def _sent(acme, ticket, to_address: str, message_id: str):
    from outbound_mail.models import OutgoingMessage

    with acme.scope():
        kind = OutgoingMessage._meta.get_field("kind").choices[0][0]
        return OutgoingMessage.objects.create(
            organization=acme.org, ticket=ticket, kind=kind, status="sent",
            to_address=to_address, subject="s", body_text="b", message_id=message_id,
        )  # fmt: skip


def _qmail_about(message_id: str, recipient: str, said: str) -> bytes:
    headers = ORIGINAL_HEADERS.replace(ORIGINAL_ID, message_id).replace(
        "carol@customer.test", recipient
    )
    body = QMAIL.format(headers=headers).replace("carol@customer.test", recipient)
    body = body.replace(
        f"Remote host said: 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown",
        f"Remote host said: {said}",
    )
    return _raw(
        "From: MAILER-DAEMON@mx.customer.test\nTo: support@acme.test\nSubject: failure notice",
        body,
    )


@pytest.fixture
def sent_ticket(support, deliver):
    acme, _ = support
    [first] = deliver(mail())
    ours = mail_tokens.make_message_id(acme.org.pk, first.ticket_id)
    return acme, first, ours


@pytest.mark.django_db
def test_permanent_shape_bounce_marks_message_and_contact_without_a_ticket(sent_ticket, deliver):

    acme, first, ours = sent_ticket
    row = _sent(acme, first.ticket, "carol@customer.test", ours)
    [bounce] = deliver(_qmail_about(ours, "carol@customer.test", "550 5.1.1 user unknown"))
    row.refresh_from_db()
    with acme.scope():
        carol = Contact.objects.get(email="carol@customer.test")
        assert Ticket.objects.count() == 1
    assert (bounce.status, bounce.ticket_id, row.status) == (
        "processed",
        first.ticket_id,
        "bounced",
    )
    assert carol.undeliverable is True


@pytest.mark.django_db
def test_transient_failure_marks_message_but_keeps_the_contact(sent_ticket, deliver):

    acme, first, ours = sent_ticket
    row = _sent(acme, first.ticket, "carol@customer.test", ours)
    said = "552 5.2.2 <carol@customer.test>: Mailbox full"
    [bounce] = deliver(_qmail_about(ours, "carol@customer.test", said))
    row.refresh_from_db()
    with acme.scope():
        assert Contact.objects.get(email="carol@customer.test").undeliverable is False
    assert row.status == "bounced"
    assert bounce.reason.endswith("undeliverable: - (a temporary failure: contacts kept)")


@pytest.mark.django_db
def test_bounce_naming_a_contact_we_did_not_mail_leaves_that_contact(sent_ticket, deliver):

    acme, first, ours = sent_ticket
    _sent(acme, first.ticket, "carol@customer.test", ours)
    with acme.scope():
        contact_get_or_create(organization=acme.org, email="dave@customer.test", name="Dave")
    [bounce] = deliver(_qmail_about(ours, "dave@customer.test", "550 5.1.1 user unknown"))
    with acme.scope():
        assert Contact.objects.get(email="dave@customer.test").undeliverable is False
        assert Contact.objects.get(email="carol@customer.test").undeliverable is False
    assert bounce.status == "processed"


@pytest.mark.django_db
def test_person_quoting_a_bounce_opens_a_ticket(support, deliver):
    acme, _ = support
    raw = _raw(
        "From: Carol <carol@customer.test>\nTo: support@acme.test\n"
        "Subject: Fwd: Delivery Status Notification (Failure)",
        "My mail to you bounced, see below.\n\n" + GMAIL_BOUNCE_TEXT,
    )
    [row] = deliver(raw)
    with acme.scope():
        ticket = Ticket.objects.select_related("requester").get(pk=row.ticket_id)
    assert (row.status, ticket.requester.email) == ("processed", "carol@customer.test")
