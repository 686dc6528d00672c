"""The portal's New ticket in a real Chromium: choose a form, send it with an error (the
message beside the field, the text kept), then with a file; the ticket page follows. The
phone width too, and axe-core on every page (the settings pages of the forms as well)."""

import shutil

import pytest
from django.conf import settings

from portal.models import IntakeField, IntakeForm
from tests.browser import ARTIFACTS, CHROMIUM, axe_violations
from tests.portal.conftest import make_contact, portal_client
from tickets.models import Attachment, Ticket

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is installed by .ci/run"),
]
Kind = IntakeField.Kind
SUBMIT = ".intake-form button[type=submit]"
SAVE_FIELD = "button:has-text('Save field')"


def _forms(tenant) -> IntakeForm:
    with tenant.scope():
        IntakeForm.objects.create(
            organization=tenant.org, name="Billing question", description="Invoices, refunds."
        )
        bugs = IntakeForm.objects.create(
            organization=tenant.org,
            name="Bug report",
            description="Something does not work as it should.",
            position=1,
        )
        specs = [
            {
                "key": "area",
                "label": "Area",
                "kind": Kind.SINGLE_CHOICE,
                "required": True,
                "choices": ["Web", "App"],
                "help_text": "Where did it happen?",
            },
            {"key": "seen_on", "label": "Seen on", "kind": Kind.DATE},
            {
                "key": "platforms",
                "label": "Platforms",
                "kind": Kind.MULTIPLE_CHOICE,
                "choices": ["iOS", "Android"],
                "help_text": "Tick all that apply.",
            },
            {"key": "screenshot", "label": "Screenshot", "kind": Kind.FILE},
            {"key": "agree", "label": "You may call me", "kind": Kind.CHECKBOX},
        ]
        for position, spec in enumerate(specs):
            IntakeField.objects.create(
                organization=tenant.org, form=bugs, position=position, **spec
            )
    return bugs


def _sign_in(page, client, host: str) -> None:
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": cookie.key, "value": cookie.value, "domain": host, "path": "/"}]
    )


@pytest.mark.django_db(transaction=True)
def test_new_ticket_through_a_form_in_the_browser(live_server, acme, browser_page, tmp_path):
    port = live_server.url.rsplit(":", 1)[1]
    base = f"http://acme.localhost:{port}"
    bugs = _forms(acme)
    contact = make_contact(acme, "customer@acme.test", "Casey Customer")
    page = browser_page
    _sign_in(page, portal_client(acme, contact), "acme.localhost")

    page.goto(f"{base}/new/")
    assert axe_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "portal-new-ticket.png"), full_page=True)
    page.click("text=Bug report")
    page.wait_for_url(f"{base}/new/{bugs.pk}/")
    assert axe_violations(page) == []

    page.fill("#id_subject", "Login fails")
    page.fill("#id_message", "The app says 'try again'.")
    page.check("text=Android")
    page.click(SUBMIT)  # no area chosen
    assert page.text_content("#id_f_area_error") == "Pick one of the options."
    assert page.input_value("#id_subject") == "Login fails"
    assert page.is_checked("#id_f_platforms_1")
    assert axe_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "portal-new-ticket-errors.png"), full_page=True)

    page.select_option("#id_f_area", "App")
    page.fill("#id_f_seen_on", "2025-03-01")
    shot = tmp_path / "shot.png"
    shot.write_bytes(b"\x89PNG fake")
    page.set_input_files("#id_f_screenshot", str(shot))
    page.click(SUBMIT)
    page.wait_for_url(f"{base}/tickets/*/")
    with acme.scope():
        ticket = Ticket.objects.get()
        assert ticket.source == Ticket.Source.PORTAL
        assert [a.filename for a in Attachment.objects.filter(ticket=ticket)] == ["shot.png"]
    assert "Login fails" in page.content()

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/new/{bugs.pk}/")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert axe_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "portal-new-ticket-phone.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_the_forms_settings_pages_in_the_browser(live_server, acme, browser_page):
    port = live_server.url.rsplit(":", 1)[1]
    base = f"http://acme.localhost:{port}"
    bugs = _forms(acme)
    page = browser_page
    _sign_in(page, acme.client(acme.admin), "acme.localhost")
    for path, name in [
        ("", "portal-settings-forms"),
        (f"{bugs.pk}/", "portal-settings-form"),
        (f"{bugs.pk}/fields/new/", "portal-settings-form-field"),
    ]:
        page.goto(f"{base}/settings/portal/forms/{path}")
        assert axe_violations(page) == []
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.fill("#id_label", "Order number")
    page.select_option("#id_kind", "single_choice")
    page.click(SAVE_FIELD)
    assert "Enter the options, one per line." in page.text_content(".field-error")
    page.fill("#id_choices", "A-100\nB-200")
    page.click(SAVE_FIELD)
    page.wait_for_url(f"{base}/settings/portal/forms/{bugs.pk}/")
    assert "Order number" in page.content()
