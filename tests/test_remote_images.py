"""Remote images in mail are blocked until an agent asks: each is a placeholder keeping its URL,
"Show images" shows one message's images in a frame whose policy allows them, "Always show
images from <sender>" is remembered per tenant, and inline cid: images keep working."""

import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_ticket
from tickets import remote_images
from tickets.models import RemoteImageSender
from tickets.services.attachments import Upload
from tickets.services.comments import comment_create
from tickets.services.contacts import contact_get_or_create

PIXEL = "https://tracker.example/open.gif?u=42"
CHART = "http://cdn.example/q3.png"
MAIL = (
    f'<p>Our sale starts now</p><img src="{PIXEL}" width="1" height="1">'
    f'<img src="{CHART}" alt="Q3 chart"><img src="cid:logo@mail">'
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def _policy(response) -> dict[str, list[str]]:
    directives = [d.strip().split() for d in response["Content-Security-Policy"].split(";")]
    return {d[0]: d[1:] for d in directives if d}


def _mail(ticket, contact, html=MAIL, uploads=()):
    return comment_create(
        ticket=ticket,
        body_text="Our sale starts now",
        body_html=html,
        author_contact=contact,
        channel="email",
        uploads=uploads,
    )


@pytest.fixture
def marketing(acme):
    """A ticket with a marketing mail (tracking pixel, remote image, inline logo) from Carol."""
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Big sale")
        logo = Upload(
            filename="logo.png", content=PNG, content_type="image/png", content_id="logo@mail"
        )
        comment = _mail(ticket, ticket.requester, uploads=[logo])
        attachment = comment.attachments.get()
    return ticket, comment, attachment


def _remote_srcs(html: str) -> list[str]:
    return re.findall(r"""<img[^>]*\ssrc=["']?((?:https?:)?//[^"' >]*)""", html, re.I)


def test_ticket_page_shows_placeholders_instead_of_remote_images(acme, marketing):
    ticket, comment, attachment = marketing
    response = acme.client(acme.agent).get(f"/agent/tickets/{ticket.number}/")
    html = response.content.decode()
    assert _remote_srcs(html) == []
    assert _policy(response)["img-src"] == ["'self'", "data:"]
    assert re.findall(r'data-blocked-src="([^"]*)"', html) == [
        "https://tracker.example/open.gif?u=42",
        CHART,
    ]
    assert "Image blocked: tracker.example" in html
    assert "Image blocked: Q3 chart" in html
    # The inline cid: image is our own attachment and shows.
    assert f'src="/agent/tickets/{ticket.number}/attachments/{attachment.pk}/"' in html
    assert f'hx-get="/agent/tickets/{ticket.number}/comments/{comment.pk}/images/"' in html


def test_show_images_frames_only_that_message_with_a_policy_allowing_them(acme, marketing):
    ticket, comment, _ = marketing
    with acme.scope():
        other = contact_get_or_create(organization=acme.org, email="dan@elsewhere.test")
        second = _mail(ticket, other, html='<p>Hi</p><img src="https://other.example/b.png">')
    client = acme.client(acme.agent)
    base = f"/agent/tickets/{ticket.number}/comments"

    fragment = client.get(f"{base}/{comment.pk}/images/", HTTP_HX_REQUEST="true")
    frame_url = f"{base}/{comment.pk}/frame/"
    assert re.findall(r'<iframe[^>]*src="([^"]*)"', fragment.content.decode()) == [frame_url]
    assert _remote_srcs(fragment.content.decode()) == []

    frame = client.get(frame_url)
    assert _remote_srcs(frame.content.decode()) == [PIXEL.replace("&", "&amp;"), CHART]
    assert "other.example" not in frame.content.decode()
    assert _policy(frame)["img-src"] == ["'self'", "data:", "https:", "http://cdn.example"]
    assert _policy(frame)["frame-ancestors"] == ["'self'"]
    assert frame["X-Frame-Options"] == "SAMEORIGIN"
    # Nothing is stored: the ticket page blocks every message's images again.
    page = client.get(f"/agent/tickets/{ticket.number}/")
    assert _remote_srcs(page.content.decode()) == []
    assert _policy(page)["img-src"] == ["'self'", "data:"]
    assert f"{base}/{second.pk}/images/" in page.content.decode()


def test_always_show_for_a_sender_shows_their_later_mail_only(acme, marketing):
    ticket, comment, _ = marketing
    client = acme.client(acme.agent)
    url = f"/agent/tickets/{ticket.number}/comments/{comment.pk}/images/always/"
    response = client.post(url, {"scope": "address"}, HTTP_HX_REQUEST="true")
    assert f"/comments/{comment.pk}/frame/" in response.content.decode()
    with acme.scope():
        assert list(RemoteImageSender.objects.values_list("pattern", "created_by")) == [
            ("carol@customer.test", acme.agent.pk)
        ]
        later = _mail(ticket, ticket.requester, html='<img src="https://cdn.example/new.png">')
        stranger = contact_get_or_create(organization=acme.org, email="eve@customer.test")
        blocked = _mail(ticket, stranger, html='<img src="https://cdn.example/eve.png">')
    page = client.get(f"/agent/tickets/{ticket.number}/")
    html = page.content.decode()
    frames = re.findall(r'<iframe[^>]*src="([^"]*)"', html)
    base = f"/agent/tickets/{ticket.number}/comments"
    assert frames == [f"{base}/{comment.pk}/frame/", f"{base}/{later.pk}/frame/"]
    assert f"{base}/{blocked.pk}/images/" in html
    assert _remote_srcs(html) == []
    assert _policy(page)["img-src"] == ["'self'", "data:"]
    assert "https:" in _policy(client.get(f"{base}/{later.pk}/frame/"))["img-src"]


def test_always_show_for_a_domain_covers_every_address_there(acme, marketing):
    ticket, comment, _ = marketing
    client = acme.client(acme.agent)
    url = f"/agent/tickets/{ticket.number}/comments/{comment.pk}/images/always/"
    client.post(url, {"scope": "domain"})
    with acme.scope():
        colleague = contact_get_or_create(organization=acme.org, email="Fred@Customer.TEST")
        theirs = _mail(ticket, colleague, html='<img src="https://cdn.example/f.png">')
        shown = remote_images.allowed_senders(ticket)
        assert remote_images.comment_images(theirs, shown).shown is True
        assert list(RemoteImageSender.objects.values_list("pattern", flat=True)) == [
            "customer.test"
        ]


def test_always_show_refuses_bad_input_with_a_message(acme, marketing):
    ticket, comment, _ = marketing
    client = acme.client(acme.agent)
    base = f"/agent/tickets/{ticket.number}/comments"
    bad = client.post(f"{base}/{comment.pk}/images/always/", {"scope": "everyone"})
    assert bad.status_code == 400
    assert "Choose the sender's address or domain." in unescape(bad.content.decode())
    with acme.scope():
        note = comment_create(ticket=ticket, body_text="x", author_user=acme.agent)
        assert RemoteImageSender.objects.count() == 0
    by_agent = client.post(f"{base}/{note.pk}/images/always/", {"scope": "address"})
    assert by_agent.status_code == 400
    assert "has no sender address" in by_agent.content.decode()
    assert client.get(f"{base}/999999/frame/").status_code == 404
    assert client.get(f"{base}/abc/frame/").status_code == 404


def test_another_tenants_messages_and_senders_are_apart(acme, globex, marketing):
    ticket, comment, _ = marketing
    acme.client(acme.agent).post(
        f"/agent/tickets/{ticket.number}/comments/{comment.pk}/images/always/",
        {"scope": "address"},
    )
    outsider = globex.client(globex.agent)
    base = f"/agent/tickets/{ticket.number}/comments/{comment.pk}"
    assert outsider.get(f"{base}/frame/").status_code == 404
    assert outsider.get(f"{base}/images/").status_code == 404
    assert outsider.post(f"{base}/images/always/", {"scope": "address"}).status_code == 404
    with globex.scope():
        theirs = make_ticket(globex.org, email="carol@customer.test")
        _mail(theirs, theirs.requester)
        assert RemoteImageSender.objects.count() == 0
    page = outsider.get(f"/agent/tickets/{theirs.number}/")
    assert _remote_srcs(page.content.decode()) == []
    assert "<iframe" not in page.content.decode()


def test_senders_page_lists_and_removes_with_fixed_queries(acme, globex):
    with acme.scope():
        for i in range(50):
            RemoteImageSender.objects.create(organization=acme.org, pattern=f"s{i}.example")
    with globex.scope():
        theirs = RemoteImageSender.objects.create(organization=globex.org, pattern="g.example")
    admin = acme.client(acme.admin)
    admin.get("/settings/remote-images/")  # the session is cached from the first request on
    with CaptureQueriesContext(connection) as many:
        page = admin.get("/settings/remote-images/")
    assert page.content.decode().count('class="sender-row"') == 50
    assert "g.example" not in page.content.decode()
    with acme.scope():
        RemoteImageSender.objects.exclude(pattern="s0.example").delete()
        first = RemoteImageSender.objects.get()
    with CaptureQueriesContext(connection) as one:
        admin.get("/settings/remote-images/")
    assert len(one) == len(many)
    assert admin.post(f"/settings/remote-images/{theirs.pk}/delete/").status_code == 404
    admin.post(f"/settings/remote-images/{first.pk}/delete/")
    with acme.scope():
        assert RemoteImageSender.objects.count() == 0
    with globex.scope():
        assert list(RemoteImageSender.objects.values_list("pattern", flat=True)) == ["g.example"]
    assert acme.client(acme.agent).get("/settings/remote-images/").status_code in (302, 403, 404)


@pytest.mark.parametrize(
    ("src", "remote"),
    [
        ("https://a.example/x.png", True),
        ("HTTP://a.example/x.png", True),
        ("//a.example/x.png", True),
        ("/\\a.example/x.png", True),
        (" \thttps://a.example/x.png", True),
        ("cid:logo@mail", False),
        ("data:image/png;base64,AAAA", False),
        ("/agent/tickets/1/attachments/2/", False),
    ],
)
def test_remote_sources_are_recognised(src, remote):
    assert remote_images.is_remote(src) is remote


def test_placeholder_keeps_text_and_escapes_what_it_quotes():
    html = '<p>a &amp; b</p><img src="https://x.example/p.png?a=1&amp;b=2" alt="&quot;<b>">'
    result = remote_images.block_remote_images(html)
    assert result.blocked == 1
    assert result.html == (
        '<p>a &amp; b</p><span class="image-blocked" role="img" '
        'data-blocked-src="https://x.example/p.png?a=1&amp;b=2" '
        'title="https://x.example/p.png?a=1&amp;b=2">Image blocked: &quot;&lt;b&gt;</span>'
    )


def test_always_show_updates_the_senders_other_messages_in_place(acme, marketing):
    ticket, comment, _ = marketing
    with acme.scope():
        again = _mail(ticket, ticket.requester, html='<img src="https://cdn.example/2.png">')
        other = contact_get_or_create(organization=acme.org, email="gus@else.test")
        theirs = _mail(ticket, other, html='<img src="https://cdn.example/3.png">')
    response = acme.client(acme.agent).post(
        f"/agent/tickets/{ticket.number}/comments/{comment.pk}/images/always/",
        {"scope": "address"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    swapped = re.findall(r'<div class="comment-body" id="comment-(\d+)-body" hx-swap-oob', html)
    assert swapped == [str(again.pk)]
    assert str(theirs.pk) not in swapped
    assert "Images from carol@customer.test will show from now on." in html
    assert _remote_srcs(html) == []
