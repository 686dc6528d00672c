"""Hostile HTML mail still shows its words to the agent: markup that makes the sanitiser's parser
swallow the rest of a mail (an unclosed <style> inside MathML/table nesting, an unclosed raw-text
element) falls back to the text, and no script or handler survives either way."""

import re
from email.message import EmailMessage

import pytest

from tests.inbound.mails import mail, new_message_id
from tickets.models import Comment
from tickets.sanitize import clean_html

WORDS = "Hello world, the invoice is attached"
HOSTILE = [
    f"<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>{WORDS}",
    f"<p>Hi Bob,</p><math><mtext><table><mglyph><style><img src=x onerror=alert(1)>{WORDS}",
    f"<style>p {{ color: red }}<p>{WORDS}</p>",
    f"<p>Hi Bob,</p><style><p onclick=alert(1)>{WORDS}</p>",
    f"<title>Invoice<p>{WORDS}</p>",
    f"<p>Hi Bob,</p><title><p>{WORDS}</p>",
    f"<textarea><p>{WORDS}</p>",
    f"<noscript><p>{WORDS}</p>",
    f"<xmp><p>{WORDS}</p>",
    f"<svg><style><img src=x onerror=alert(1)><p>{WORDS}</p>",
    f"<p>Hi Bob,</p><svg><style><script>alert(1)</script>{WORDS}",
]


def _html_only(html: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carol <carol@customer.test>"
    msg["To"] = "support@acme.test"
    msg["Subject"] = "Invoice"
    msg["Message-ID"] = f"<{new_message_id()}>"
    msg.set_content(html, subtype="html")
    return bytes(msg)


def _conversation(acme, row) -> str:
    """The comment bodies of the ticket page as the agent's browser gets them."""
    with acme.scope():
        number = row.ticket.number
    page = acme.client(acme.agent).get(f"/agent/tickets/{number}/").content.decode()
    [conversation] = re.findall(r'<ol class="conversation".*?</ol>', page, re.S)
    # "show quoted text" holds the full text as escaped <pre>: not what the body shows.
    return re.sub(r'<details class="quoted">.*?</details>', "", conversation, flags=re.S)


def _assert_shown_safely(shown: str) -> None:
    assert WORDS in shown
    for dangerous in ("onerror", "onclick", "<script", "alert(1)", "<style", "<svg", "<math"):
        assert dangerous not in shown.lower()


@pytest.mark.parametrize("html", HOSTILE)
def test_hostile_html_only_mail_shows_its_words(support, deliver, html):
    acme, _ = support
    [row] = deliver(_html_only(html))
    _assert_shown_safely(_conversation(acme, row))


@pytest.mark.parametrize("html", HOSTILE)
def test_hostile_html_alternative_shows_the_words(support, deliver, html):
    acme, _ = support
    [row] = deliver(mail(subject="Invoice", body=f"Hi Bob,\n\n{WORDS}", html=html))
    _assert_shown_safely(_conversation(acme, row))


def test_html_hiding_the_text_part_in_a_closed_style_shows_the_text_part(support, deliver):
    acme, _ = support
    html = f"<p>Hi Bob,</p><style>{WORDS}</style>"
    [row] = deliver(mail(subject="Invoice", body=f"Hi Bob,\n\n{WORDS}", html=html))
    shown = _conversation(acme, row)
    _assert_shown_safely(shown)
    with acme.scope():
        assert Comment.objects.get(pk=row.comment_id).body_html == (f"<p>Hi Bob,</p><p>{WORDS}</p>")


def test_well_formed_html_keeps_its_markup(support, deliver):
    acme, _ = support
    html = (
        "<html><head><title>Invoice</title><style>p { color: red }</style></head><body>"
        f"<!--[if mso]><p>Outlook only</p><![endif]--><p><b>Hi Bob,</b></p><p>{WORDS}</p>"
        "</body></html>"
    )
    [row] = deliver(mail(subject="Invoice", body=f"Hi Bob,\n\n{WORDS}", html=html))
    with acme.scope():
        assert Comment.objects.get(pk=row.comment_id).body_html.strip() == (
            f"<p><b>Hi Bob,</b></p><p>{WORDS}</p>"
        )


def test_clean_html_falls_back_to_escaped_paragraphs():
    source = f"<p>Hi &amp; bye</p><math><mtext><table><mglyph><style><img src=x>{WORDS} &lt;b&gt;"
    assert clean_html(source) == f"<p>Hi &amp; bye</p><p>{WORDS} &lt;b&gt;</p>"


def test_clean_html_fallback_is_linear_on_many_unclosed_styles():
    import time

    source = "<p>Hi there friend</p>" + "<style><math><mtext>word " * 20_000
    started = time.perf_counter()
    clean_html(source)
    assert time.perf_counter() - started < 5
