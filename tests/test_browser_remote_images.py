"""In a real Chromium, opening a ticket with a remote image asks the image's server nothing;
"Show images" on that message asks it exactly once."""

import shutil
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.browser import ARTIFACTS, CHROMIUM
from tests.factories import make_ticket
from tickets.services.comments import comment_create

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is installed by .ci/run"),
]


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + b"\x20\x80\xd0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def image_server():
    """An HTTP server on 127.0.0.1 that serves one PNG and records every request it gets."""
    hits: list[str] = []
    image = _png(120, 40)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # the name http.server calls
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(image)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(image)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=True)
def test_remote_image_loads_only_after_show_images(live_server, acme, browser_page, image_server):
    origin, hits = image_server
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Spring newsletter", body="Hello")
        comment_create(
            ticket=ticket,
            body_text="Our spring sale",
            body_html=f'<p>Our spring sale</p><img src="{origin}/chart.png" alt="Sale chart">',
            author_contact=ticket.requester,
            channel="email",
        )
    port = live_server.url.rsplit(":", 1)[1]
    base = f"http://acme.localhost:{port}"
    page = browser_page
    page.goto(f"{base}/agent/")
    page.fill("#id_username", "agent@acme.test")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/agent/")

    page.goto(f"{base}/agent/tickets/{ticket.number}/")
    page.wait_for_load_state("load")
    page.wait_for_timeout(500)  # the page polls (the bell), so "network idle" never comes
    entry_id = page.locator(".entry", has_text="Our spring sale").get_attribute("id")
    entry = page.locator(f"#{entry_id}")  # its text moves into the frame once shown
    assert entry.locator(".image-blocked").all_inner_texts() == ["Image blocked: Sale chart"]
    assert hits == []
    entry.screenshot(path=str(ARTIFACTS / "remote_images_blocked.png"))

    entry.locator("button.show-images").click()
    frame = page.frame_locator(f"#{entry_id}-body iframe")
    frame.locator("img[alt='Sale chart']").wait_for()
    page.wait_for_function(
        "() => { const f = document.querySelector('iframe.mail-frame');"
        " const img = f && f.contentDocument && f.contentDocument.querySelector('img');"
        " return img && img.complete && img.naturalWidth === 120; }"
    )
    page.wait_for_timeout(500)  # a second request, were there one, has had its time
    assert hits == ["/chart.png"]
    # The frame is as tall as the message, not a scrolling box.
    height = page.evaluate("document.querySelector('iframe.mail-frame').offsetHeight")
    assert height >= 40
    entry.screenshot(path=str(ARTIFACTS / "remote_images_shown.png"))

    # Remembered for the sender: the next view of the page shows the frame straight away.
    entry.locator("button", has_text="Always show images from carol@customer.test").click()
    page.locator("#toasts .toast", has_text="Images from carol@customer.test will show").wait_for()
    page.reload()
    page.frame_locator(f"#{entry_id}-body iframe").locator("img[alt='Sale chart']").wait_for()

    page.context.clear_cookies()
    page.goto(f"{base}/settings/remote-images/")
    page.fill("#id_username", "admin@acme.test")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/settings/remote-images/")
    assert page.locator(".sender-row td").first.inner_text() == "carol@customer.test"
    page.screenshot(path=str(ARTIFACTS / "settings_remote_images.png"))
