"""Rich text in a real Chromium: a reply typed with bold, a list and a link (and an image pasted
into the box), previewed, sent, reaches the customer's mail as HTML with a readable text part;
a message's Forward sends it to another address."""

import re
import shutil

import pytest
from django.core import mail

from tests.browser import ARTIFACTS, CHROMIUM
from tests.outbound.conftest import set_debounce
from tests.test_browser_reply_flow import _open_ticket

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is installed by .ci/run"),
]

PASTE_PNG = """() => {
  const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8"
    + "AAAAASUVORK5CYII=";
  const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], "image.png", { type: "image/png" }));
  const body = document.getElementById("id_body");
  body.focus(); body.selectionStart = body.selectionEnd = body.value.length;
  const options = { clipboardData: data, bubbles: true, cancelable: true };
  body.dispatchEvent(new ClipboardEvent("paste", options));
}"""


@pytest.mark.django_db(transaction=True)
def test_rich_reply_reaches_the_customer_as_html_and_text(
    live_server,
    acme,
    globex,
    browser_page,
):
    set_debounce(acme, 0)
    page = browser_page
    ticket = _open_ticket(page, live_server, acme)
    page.fill(
        "#id_body",
        "Thanks for **waiting**:\n\n- open the invoice page\n- see [billing](https://billing.example)\n\n",
    )
    page.evaluate(PASTE_PNG)
    assert re.search(
        r"!\[image-[\w-]+\.png\]\(cid:image-[\w-]+\.png\)$", page.input_value("#id_body")
    )
    page.click("#preview-toggle")
    preview = page.locator("#reply-preview")
    preview.locator("strong", has_text="waiting").wait_for()
    assert preview.locator("ul li").all_inner_texts() == ["open the invoice page", "see billing"]
    assert (
        preview.locator("a", has_text="billing").get_attribute("href") == "https://billing.example"
    )
    page.screenshot(path=str(ARTIFACTS / "reply-markdown-preview.png"), full_page=True)
    page.click("#preview-toggle")  # back to editing
    assert page.locator("#id_body").is_visible()
    page.click("#send")
    entry = page.locator(".entry", has_text="open the invoice page")
    entry.wait_for()
    assert entry.locator(".body strong").inner_text() == "waiting"
    assert entry.locator(".body img").count() == 1
    page.screenshot(path=str(ARTIFACTS / "reply-markdown-sent.png"), full_page=True)
    [message] = [m for m in mail.outbox if "invoice page" in m.body]
    html = next(c for c, t in message.alternatives if t == "text/html")
    assert re.search(r"<strong[^>]*>waiting</strong>", html)
    assert re.search(r"<li[^>]*>open the invoice page</li>", html)
    assert re.search(r'<a href="https://billing.example"[^>]*>billing</a>', html)
    assert re.search(r'<img src="cid:[0-9a-f]{32}@inline"', html)
    text = message.body.split("\n\n— ")[0]
    assert text.startswith(
        "Thanks for **waiting**:\n\n- open the invoice page\n"
        "- see billing (https://billing.example)\n\n[image: image-"
    )
    assert [p.get_content_type() for p in message.message().walk()][:1] == ["multipart/related"]

    # Forward that message to a colleague elsewhere.
    mail.outbox.clear()
    entry.locator("button.forward-message").click()
    page.fill("#forward-to", "accounts@partner.test")
    page.fill("#forward-note", "FYI")
    page.screenshot(path=str(ARTIFACTS / "forward-box.png"), full_page=True)
    page.click("#forward-send")
    page.locator("#toasts .toast", has_text="Forwarded the message").wait_for()
    [forwarded] = mail.outbox
    assert forwarded.to == ["accounts@partner.test"]
    assert forwarded.body.startswith("FYI\n\n---------- Forwarded by")
    assert f"[#{ticket.number}]" in forwarded.subject
