"""Reply text: quoted history and signatures removed (inbound_mail.quoting)."""

import pytest

from inbound_mail.quoting import split_reply, strip_quotes, strip_signature
from tests.inbound.corpus import PUBLIC, parsed, require_corpus

TALON = "public/talon/standard_replies"


@pytest.mark.parametrize("client", ["iphone", "sparrow"])
def test_strip_quotes_talon_expected_reply_text(client):
    require_corpus()
    expected = (PUBLIC / "talon/standard_replies" / f"{client}_reply_text").read_text()
    assert strip_quotes(parsed(f"{TALON}/{client}.eml").text_full) == expected.rstrip()


@pytest.mark.parametrize(
    "client", ["aol", "apple_mail_2", "gmail", "hotmail", "iphone", "outlook", "sparrow", "yahoo"]
)
def test_split_reply_talon_clients_leave_only_the_answer(client):
    require_corpus()
    msg = parsed(f"{TALON}/{client}.eml")
    assert msg.text == "Hello"
    assert len(msg.text_full) > len(msg.text)


def test_split_reply_discourse_bottom_posted_reply_keeps_the_answer():
    require_corpus()
    text = parsed("public/discourse/inline_reply.eml").text
    assert text.startswith("The quick brown fox jumps over the lazy dog.")
    assert text.endswith("the lazy dog. The quick brown fox jumps over the lazy dog.")
    assert ">" not in text
    assert "wrote" not in text


def test_split_reply_redmine_quoted_reply_above_is_removed():
    require_corpus()
    text = parsed("public/redmine/issue_update_with_multiple_quoted_reply_above.eml").text
    assert text.startswith("An update to the issue by the sender.")
    assert text.endswith("platea dictumst.")
    assert "Reply above" not in text
    # format=flowed (RFC 3676) soft breaks are joined into one paragraph line.
    assert "Maecenas imperdiet turpis et odio." in text


def test_split_reply_gmail_wrapped_attribution():
    text = (
        "Thanks, that works.\n\n"
        "On Wed, Oct 8, 2014 at 11:12 AM, Jane Example <jane@example.com>\n"
        "wrote:\n\n> Did it work?\n"
    )
    assert split_reply(text) == "Thanks, that works."


@pytest.mark.parametrize(
    "attribution",
    [
        "Le 3 avr. 2012 à 16:19, Bob <bob@example.com> a écrit :",
        "Am 03.04.2012 um 16:19 schrieb Bob <bob@example.com>:",
        "El 3 abr 2012, a las 16:19, Bob <bob@example.com> escribió:",
        "Il giorno 3 apr 2012, alle ore 16:19, Bob ha scritto:",
        "Op 3 apr. 2012 schreef Bob <bob@example.com>:",
        "Den 3 apr 2012 kl. 16:19 skrev Bob <bob@example.com>:",
        "W dniu 3.04.2012 o 16:19 Bob napisał:",
        "3 апреля 2012 г., в 16:19, Bob <bob@example.com> написал:",  # noqa: RUF001
        "2012年4月3日 16:19 Bob <bob@example.com>:",
        "在 2012年4月3日\uff0c16:19\uff0cBob <bob@example.com> 写道\uff1a",
    ],
)
def test_split_reply_attribution_lines_in_many_languages(attribution):
    text = f"Merci, ça marche.\n\n{attribution}\n\n> Est-ce que ça marche ?\n> Bob\n"
    assert split_reply(text) == "Merci, ça marche."


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----",
        "----- Original Message -----",
        "-----Ursprüngliche Nachricht-----",
        "-------- Message d'origine --------",
    ],
)
def test_split_reply_outlook_original_message_separator(separator):
    text = f"See attached.\n\n{separator}\nFrom: Bob\nSent: Monday\nSubject: Report\n\nOld text"
    assert split_reply(text) == "See attached."


@pytest.mark.parametrize(
    "block",
    [
        "From: Bob Example [mailto:bob@example.com]\nSent: Monday, 2 April 2012 17:49\n"
        "To: Alice\nSubject: Test",
        "Von: Bob Example <bob@example.com>\nGesendet: Montag, 2. April 2012 17:49\n"
        "An: Alice\nBetreff: Test",
        "De : Bob Example\nEnvoyé : lundi 2 avril 2012 17:49\nÀ : Alice\nObjet : Test",
        "________________________________\nFrom: Bob Example <bob@example.com>\n"
        "Sent: Monday, April 2, 2012 5:49 PM",
    ],
)
def test_split_reply_outlook_header_block_without_quote_marks(block):
    text = f"Hello Alice,\n\nhere it is.\n\n{block}\n\nOriginal question?\n"
    assert split_reply(text) == "Hello Alice,\n\nhere it is."


def test_split_reply_keeps_forwarded_message():
    text = (
        "Please handle this.\n\n"
        "---------- Forwarded message ---------\n"
        "From: Customer <customer@example.com>\n"
        "Date: Mon, 1 Dec 2016 00:13:37 +0100\n"
        "Subject: Broken\n\n"
        "It is broken.\n"
    )
    assert split_reply(text) == text.rstrip()


def test_split_reply_keeps_apple_mail_forward():
    text = "FYI\n\nBegin forwarded message:\n\nFrom: A <a@example.com>\nSubject: x\n\nBody"
    assert split_reply(text) == text


def test_split_reply_interleaved_answers_keep_their_quotes():
    text = (
        "On Mon, Apr 2, 2012 at 6:26 PM, Bob <bob@example.com> wrote:\n"
        "> Which version?\n"
        "5.2\n"
        "> Does it crash?\n"
        "Yes, at start.\n"
        "> Thanks\n"
    )
    assert split_reply(text) == "> Which version?\n5.2\n> Does it crash?\nYes, at start."


def test_split_reply_only_quote_is_empty():
    assert split_reply("> quoted\n> only\n") == ""


def test_split_reply_plain_text_unchanged():
    text = "Hello,\n\nmy printer: it does not print.\nFrom: the office\n\nRegards"
    assert split_reply(text) == text


@pytest.mark.parametrize(
    "footer",
    [
        "Sent from my iPhone",
        "Von meinem iPhone gesendet",
        "Envoyé de mon iPhone",
        "Get Outlook for Android",
        "Enviado desde mi iPad",
    ],
)
def test_strip_signature_mobile_footers(footer):
    assert strip_signature(f"Yes please.\n\n{footer}") == "Yes please."


def test_strip_signature_rfc3676_delimiter():
    text = "Yes please.\n\n-- \nJane Example\nExample Corp\n+1 555 0100"
    assert strip_signature(text) == "Yes please."


def test_strip_signature_long_tail_after_dashes_is_not_a_signature():
    text = "Intro\n--\n" + "\n".join(f"line {n}" for n in range(30))
    assert strip_signature(text) == text


def test_split_reply_empty_and_whitespace():
    assert split_reply("") == ""
    assert split_reply("\n\n  \n") == ""
