"""The public contact form in a real Chromium: a person sends a message with a file (phone
width too), the honeypot stays out of sight and out of the tab order, a robot filling it is
thanked and dropped, the limit per client address answers clearly, and the embed works inside
another site's frame while the portal's own page refuses to be framed. axe-core on each page."""

import shutil
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine

from portal import antispam
from tests.browser import ARTIFACTS, CHROMIUM, axe_violations
from tickets.models import Attachment, Ticket

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is installed by .ci/run"),
]


def _shown_a_minute_ago(page, tenant, frame=None) -> None:
    # A person takes longer than antispam.MIN_SECONDS; the test does not wait for it.
    with time_machine.travel(time.time() - 60, tick=False):
        token = antispam.token_issue(tenant.org)
    (frame or page).eval_on_selector("input[name=shown]", "(el, v) => { el.value = v; }", token)


def _fill(target, subject: str) -> None:
    target.fill("#id_name", "Pat Person")
    target.fill("#id_email", "pat@example.test")
    target.fill("#id_subject", subject)
    target.fill("#id_message", "The invoice total looks wrong.")


def _tickets(tenant) -> list[Ticket]:
    with tenant.scope():
        return list(Ticket.objects.order_by("id"))


@pytest.mark.django_db(transaction=True)
def test_contact_form_in_the_browser(live_server, acme, browser_page, tmp_path):
    port = live_server.url.rsplit(":", 1)[1]
    base = f"http://acme.localhost:{port}"
    page = browser_page
    page.goto(f"{base}/contact/")
    assert axe_violations(page) == []
    box = page.locator("#id_website").bounding_box()
    assert box is not None
    assert box["x"] < 0
    # Keyboard only: Tab from the first field never reaches the honeypot.
    page.focus("#id_name")
    focused = []
    for _ in range(8):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.id"))
    assert "id_website" not in focused
    assert focused[:3] == ["id_email", "id_subject", "id_message"]

    _fill(page, "Invoice 1043")
    upload = tmp_path / "invoice.txt"
    upload.write_bytes(b"total: 99")
    page.set_input_files("#id_attachments", str(upload))
    page.screenshot(path=str(ARTIFACTS / "portal-contact.png"), full_page=True)
    _shown_a_minute_ago(page, acme)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/contact/thanks/")
    assert "we got your message" in page.content()
    assert "Invoice 1043" not in page.content()
    assert axe_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "portal-contact-thanks.png"), full_page=True)
    [ticket] = _tickets(acme)
    assert (ticket.subject, ticket.source) == ("Invoice 1043", Ticket.Source.CONTACT_FORM)
    with acme.scope():
        assert [a.filename for a in Attachment.objects.filter(ticket=ticket)] == ["invoice.txt"]

    # Too fast: the page says so and keeps the text.
    page.goto(f"{base}/contact/")
    _fill(page, "Typed quickly")
    page.click("button[type=submit]")
    page.locator(".error", has_text="quicker than we expected").wait_for()
    assert page.input_value("#id_subject") == "Typed quickly"
    assert axe_violations(page) == []

    # A robot fills the honeypot: thanked, nothing made.
    page.goto(f"{base}/contact/")
    _fill(page, "Cheap watches")
    page.eval_on_selector("#id_website", "el => { el.value = 'http://spam.example'; }")
    _shown_a_minute_ago(page, acme)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/contact/thanks/")
    assert len(_tickets(acme)) == 1

    # The limit per client address: 5 submissions (1 ticket, 1 robot, 3 more), then a 429.
    for n in range(3):
        page.goto(f"{base}/contact/")
        _fill(page, f"Follow-up {n}")
        _shown_a_minute_ago(page, acme)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/contact/thanks/")
    page.goto(f"{base}/contact/")
    _fill(page, "One too many")
    _shown_a_minute_ago(page, acme)
    with page.expect_response(f"{base}/contact/") as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 429
    page.locator(".error", has_text="Too many messages from your network").wait_for()
    assert page.input_value("#id_subject") == "One too many"
    assert len(_tickets(acme)) == 4

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/contact/")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "portal-contact-phone.png"), full_page=True)


@contextmanager
def _other_site(html: str):
    """The tenant's own website: another origin on this machine (loopback only), serving one
    page; Chromium lets a local page frame another local one."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.django_db(transaction=True)
def test_contact_embed_in_another_sites_frame(live_server, acme, browser_page):
    port = live_server.url.rsplit(":", 1)[1]
    base = f"http://acme.localhost:{port}"
    page = browser_page
    site = (
        "<!doctype html><html lang='en'><title>Acme Inc</title><h1>Talk to us</h1>"
        f"<iframe id='embed' title='Contact' src='{base}/contact/embed/' width='800' height='900'>"
        f"</iframe><iframe id='portal' title='Portal' src='{base}/contact/'></iframe></html>"
    )
    with _other_site(site) as url:
        page.goto(url)
        page.frame_locator("#embed").locator("#id_subject").wait_for()
        _embed_works(page, acme, base)
    page.goto(f"{base}/contact/embed/")
    assert axe_violations(page) == []


def _embed_works(page, acme, base) -> None:
    embed = next(f for f in page.frames if f.url.startswith(f"{base}/contact/embed/"))
    assert embed.locator(".portal-header").count() == 0
    # The portal's own contact page refuses to be framed: its frame shows nothing of it.
    refused = [f for f in page.frames if f.url.startswith(f"{base}/contact/") and f != embed]
    assert all(f.locator("#id_subject").count() == 0 for f in refused)
    page.screenshot(path=str(ARTIFACTS / "portal-contact-embed.png"), full_page=True)

    _fill(embed, "From the website")
    _shown_a_minute_ago(page, acme, frame=embed)
    embed.click("button[type=submit]")
    embed.wait_for_url(f"{base}/contact/embed/thanks/")
    assert "we got your message" in embed.content()
    assert [t.subject for t in _tickets(acme)] == ["From the website"]
