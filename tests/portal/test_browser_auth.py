"""The portal's front page, signing in by a link read from the outbox, the profile, the agent's
preview, in Chromium at desktop and phone width: axe-core finds nothing serious or critical,
the keyboard reaches everything from the skip link on, and nothing scrolls sideways at 390px.
Screenshots go to test-artifacts/portal-*.png."""

import re

import pytest

from outbound_mail.kinds import Kind
from outbound_mail.models import OutgoingMessage
from tests.browser import ARTIFACTS, axe_violations
from tickets.models import Contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def _base(live_server) -> str:
    return f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"


def _check(page, name: str) -> None:
    assert axe_violations(page) == [], name
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{name} scrolls sideways ({width}px)"
    page.screenshot(path=str(ARTIFACTS / f"portal-{name}.png"), full_page=True)


def _link_from_outbox(acme) -> str:
    with acme.scope():
        row = OutgoingMessage.objects.filter(kind=Kind.PORTAL_SIGN_IN).latest("id")
    match = re.search(r"http://\S+/sign-in/link/[\w-]+/", row.body_text)
    assert match is not None
    return match[0]


def _sign_in_by_link(page, base, acme, email="customer@acme.test") -> None:
    page.goto(f"{base}/")
    page.fill("#id_email", email)
    page.click("text=Email me a sign-in link")
    page.wait_for_url(f"{base}/sign-in/sent/")
    link = _link_from_outbox(acme).replace("http://acme.localhost/", f"{base}/")
    page.goto(link)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/tickets/")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_sign_in_by_link_and_the_profile(live_server, acme, customer, browser_page, viewport):
    page, base = browser_page, _base(live_server)
    suffix = "" if viewport == "desktop" else "-phone"
    if viewport == "phone":
        page.set_viewport_size(PHONE)
    page.goto(f"{base}/")
    _check(page, f"home{suffix}")
    # Keyboard only: the first Tab lands on the skip link, which moves focus to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    # A bad address: the message next to the field, the text kept.
    page.fill("#id_email", "casey at acme")
    page.click("text=Email me a sign-in link")
    assert page.locator(".field-error").inner_text() == (
        "Enter a whole email address, like name@example.com."
    )
    assert page.input_value("#id_email") == "casey at acme"
    _check(page, f"sign-in-error{suffix}")
    page.fill("#id_email", "customer@acme.test")
    page.click("text=Email me a sign-in link")
    page.wait_for_url(f"{base}/sign-in/sent/")
    _check(page, f"sign-in-sent{suffix}")
    link = _link_from_outbox(acme).replace("http://acme.localhost/", f"{base}/")
    page.goto(link)
    _check(page, f"sign-in-link{suffix}")
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/tickets/")
    # The profile: choose no mail, by keyboard.
    page.goto(f"{base}/profile/")
    _check(page, f"profile{suffix}")
    page.focus("#id_mail_1")
    page.keyboard.press("Space")
    page.locator("button:has-text('Save')").first.press("Enter")
    page.wait_for_url(f"{base}/profile/")
    assert page.is_checked("#id_mail_1")
    with acme.scope():
        assert Contact.objects.get(pk=customer.pk).mail_replies is False
    # The used link, opened again: the clear page.
    page.goto(link)
    assert "This sign-in link was already used." in page.inner_text("main")
    _check(page, f"link-invalid{suffix}")


def test_password_sign_in_page(live_server, acme, customer, browser_page):
    page, base = browser_page, _base(live_server)
    page.goto(f"{base}/sign-in/password/")
    page.fill("#id_email", "customer@acme.test")
    page.fill("#id_password", "not the password")
    page.click("main button[type=submit]")
    assert "That address and password do not match." in page.inner_text("main")
    assert page.input_value("#id_email") == "customer@acme.test"
    _check(page, "sign-in-password")


def test_agent_previews_as_the_contact(live_server, acme, customer, browser_page):
    page, base = browser_page, _base(live_server)
    page.goto(f"{base}/login/")
    page.fill("#id_username", "agent@acme.test")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{base}/agent/contacts/{customer.pk}/")
    page.click("text=View the portal as this contact")
    page.wait_for_url(f"{base}/tickets/")
    banner = page.inner_text(".portal-banner")
    assert "You are viewing the portal as Casey Customer would see it" in banner
    assert page.locator(".portal-nav >> text=Profile").count() == 0
    _check(page, "preview")
    page.click("text=Stop viewing as Casey Customer")
    page.wait_for_url(f"{base}/agent/contacts/{customer.pk}/")
