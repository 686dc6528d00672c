"""Rich text in replies and notes: Markdown rendered and sanitised once on the server
(tickets.rich_text), stored as body_text (the source) and body_html, mailed as the HTML part with
a readable text part; images pasted into the reply box travel as inline related parts."""

import base64
import re

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import make_ticket
from tests.outbound.conftest import set_debounce
from tickets.models import Attachment, Comment
from tickets.rich_text import render_markdown, text_part

RICH = (
    "Hi **Carol**,\n\n- restart the printer\n- try [the guide](https://example.com/guide)\n\n"
    "Run `lpstat -t`."
)
# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@pytest.fixture
def agent_client(acme):
    return acme.client(acme.agent)


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _reply(client, ticket, run, **data):
    with run():
        return client.post(f"/agent/tickets/{ticket.number}/reply/", data, HTTP_HX_REQUEST="true")


def _html_part(message) -> str:
    return next(c for c, t in message.alternatives if t == "text/html")


def test_reply_markdown_is_stored_as_source_and_safe_html(acme, agent_client, run):
    with acme.scope():
        ticket = make_ticket(acme.org)
    _reply(agent_client, ticket, run, body=RICH)
    with acme.scope():
        comment = Comment.objects.get(ticket=ticket, author_user=acme.agent)
    assert comment.body_text == RICH
    assert comment.body_html == (
        "<p>Hi <strong>Carol</strong>,</p>\n<ul>\n<li>restart the printer</li>\n"
        '<li>try <a href="https://example.com/guide" rel="noopener noreferrer">the guide</a></li>\n'
        "</ul>\n<p>Run <code>lpstat -t</code>.</p>\n"
    )


def test_reply_mail_has_the_html_part_and_a_readable_text_part(acme, agent_client, run):
    set_debounce(acme, 0)
    with acme.scope():
        ticket = make_ticket(acme.org)
    _reply(agent_client, ticket, run, body=RICH)
    [message] = [m for m in mail.outbox if m.to == ["Carol <carol@customer.test>"]]
    html = _html_part(message)
    assert "<strong>Carol</strong>" in html
    assert re.search(r"<ul[^>]*>\s*<li[^>]*>restart the printer</li>", html)
    assert re.search(r'<a href="https://example.com/guide"[^>]*>the guide</a>', html)
    assert re.search(r"<code[^>]*>lpstat -t</code>", html)
    assert message.body.split("\n\n— ")[0] == (
        "Hi **Carol**,\n\n- restart the printer\n"
        "- try the guide (https://example.com/guide)\n\nRun `lpstat -t`."
    )


def test_internal_note_is_markdown_too(acme, agent_client, run):
    with acme.scope():
        ticket = make_ticket(acme.org)
    _reply(agent_client, ticket, run, body="> quoted\n\n_see_ ~~this~~", internal="on")
    with acme.scope():
        note = Comment.objects.get(ticket=ticket, is_public=False)
    assert note.body_html == (
        "<blockquote>\n<p>quoted</p>\n</blockquote>\n<p><em>see</em> <s>this</s></p>\n"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"),
        ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>\n"),
        ("[x](JaVaScRiPt:alert(1))", "<p>[x](JaVaScRiPt:alert(1))</p>\n"),
        ("<img src=x onerror=alert(1)>", "<p>&lt;img src=x onerror=alert(1)&gt;</p>\n"),
        ("![x](javascript:alert(1))", "<p>![x](javascript:alert(1))</p>\n"),
        (
            "[x](data:text/html;base64,PHNjcmlwdD4=)",
            "<p>[x](data:text/html;base64,PHNjcmlwdD4=)</p>\n",
        ),
        ('<a href="javascript:x">y</a>', '<p>&lt;a href="javascript:x"&gt;y&lt;/a&gt;</p>\n'),
    ],
)
def test_hostile_markdown_is_neutralised(source, expected):
    assert render_markdown(source) == expected


def test_hostile_reply_is_stored_neutralised(acme, agent_client, run):
    with acme.scope():
        ticket = make_ticket(acme.org)
    _reply(agent_client, ticket, run, body="<script>x()</script> [a](javascript:x())")
    with acme.scope():
        body_html = Comment.objects.get(ticket=ticket, author_user=acme.agent).body_html
    assert body_html == "<p>&lt;script&gt;x()&lt;/script&gt; [a](javascript:x())</p>\n"


def test_text_part_links_and_images():
    assert text_part("see [docs](https://x.test/d) <https://y.test> ![shot](cid:a.png)") == (
        "see docs (https://x.test/d) https://y.test [image: shot]"
    )
    assert text_part("[a@b.test](mailto:a@b.test)") == "a@b.test"


def test_pasted_image_is_an_inline_related_part(acme, agent_client, run):
    set_debounce(acme, 0)
    with acme.scope():
        ticket = make_ticket(acme.org)
    image = SimpleUploadedFile("shot-1.png", PNG, content_type="image/png")
    _reply(
        agent_client, ticket, run, body="Look:\n\n![shot-1.png](cid:shot-1.png)", attachments=image
    )
    with acme.scope():
        comment = Comment.objects.get(ticket=ticket, author_user=acme.agent)
        attachment = Attachment.objects.get(comment=comment)
    assert (attachment.inline, attachment.content_id.endswith("@inline")) == (True, True)
    url = f"/agent/tickets/{ticket.number}/attachments/{attachment.pk}/"
    assert f'<img src="{url}" alt="shot-1.png">' in comment.body_html
    page = agent_client.get(f"/agent/tickets/{ticket.number}/").content.decode()
    assert f'src="{url}"' in page
    assert agent_client.get(url).getvalue() == PNG
    [message] = [m for m in mail.outbox if m.to == ["Carol <carol@customer.test>"]]
    assert f'src="cid:{attachment.content_id}"' in _html_part(message)
    raw = message.message()
    assert raw.get_content_type() == "multipart/related"
    [part] = [p for p in raw.walk() if p.get_content_type() == "image/png"]
    assert part["Content-ID"] == f"<{attachment.content_id}>"
    assert part.get_content_disposition() == "inline"
    assert part.get_payload(decode=True) == PNG
    assert "[image: shot-1.png]" in message.body


def test_preview_renders_what_will_be_sent(acme, agent_client):
    with acme.scope():
        ticket = make_ticket(acme.org)
    response = agent_client.post(
        f"/agent/tickets/{ticket.number}/preview/", {"body": RICH}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert render_markdown(RICH) in html
    assert "- try the guide (https://example.com/guide)" in html
    hostile = agent_client.post(
        f"/agent/tickets/{ticket.number}/preview/", {"body": "<script>x</script>"}
    ).content.decode()
    assert "<script>" not in hostile
    empty = agent_client.post(f"/agent/tickets/{ticket.number}/preview/", {"body": " "})
    assert "Nothing to preview yet." in empty.content.decode()


def test_preview_of_another_tenants_ticket_is_404(acme, globex, agent_client):
    with globex.scope():
        theirs = make_ticket(globex.org)
    with acme.scope():
        make_ticket(acme.org)  # acme has a ticket with the same number
        ours = Comment.objects.count()
    response = globex.client(globex.agent).post(
        f"/agent/tickets/{theirs.number + 100}/preview/", {"body": "x"}
    )
    assert response.status_code == 404
    response = agent_client.get(f"/agent/tickets/{theirs.number}/preview/")
    assert response.status_code == 405
    with acme.scope():
        assert Comment.objects.count() == ours
