"""Signing in to the portal: links by mail (no enumeration, limits, once, in time, on their own
tenant's host, a safe next), passwords, sessions per tenant, CSRF, and agents' previews."""

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from outbound_mail import transport
from outbound_mail.kinds import Kind
from outbound_mail.models import OutgoingMessage
from outbound_mail.services.templates import branding_save
from portal import auth
from portal.models import MagicLink, PortalAccount, PortalSettings
from portal.selectors import portal_settings
from portal.services.auth import LINK_MINUTES
from tenants import throttle
from tests.portal.conftest import make_contact, portal_client
from tests.test_redirects import HOSTILE
from tickets.models import Contact
from tickets.services.contacts import contact_email_add

pytestmark = pytest.mark.django_db

LINK_RE = re.compile(r"http://(?P<host>[\w.]+)/sign-in/link/(?P<token>[\w-]+)/")
MAGIC_WAIT = "Too many sign-in links were asked for; wait 1 minute and try again."
GOOD_PASSWORD = "correct horse battery"
WRONG = "That address and password do not match. Check both, or sign in with a link by mail."
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _client(tenant, **kwargs) -> Client:
    return Client(HTTP_HOST=f"{tenant.org.slug}.localhost", **kwargs)


def _ask(client, email, address="10.0.0.1", **data):
    return client.post("/sign-in/", {"email": email, **data}, REMOTE_ADDR=address)


def _links(tenant) -> list[OutgoingMessage]:
    with tenant.scope():
        return list(OutgoingMessage.objects.filter(kind=Kind.PORTAL_SIGN_IN).order_by("id"))


def _token(tenant) -> str:
    match = LINK_RE.search(_links(tenant)[-1].body_text)
    assert match is not None
    return match["token"]


def _signed_in_as(client, tenant) -> int | None:
    stored = client.session.get(auth.SESSION_KEY)
    return stored["contact"] if stored and stored["org"] == tenant.org.pk else None


def _error(response, field="email") -> str:
    return " ".join(response.context["form"].errors.get(field, []))


# -- asking for a link -------------------------------------------------------------------------


def test_known_and_unknown_addresses_get_the_same_answer(acme, customer):
    known = _ask(_client(acme), "Customer@acme.test")
    unknown = _ask(_client(acme), "stranger@acme.test")
    assert (known.status_code, known["Location"]) == (302, "/sign-in/sent/")
    assert (unknown.status_code, unknown["Location"]) == (302, "/sign-in/sent/")
    [row] = _links(acme)
    assert (row.to_address, row.contact_id, row.ticket_id, row.status) == (
        "customer@acme.test",
        customer.pk,
        None,
        OutgoingMessage.Status.PENDING,
    )
    with acme.scope():
        assert list(Contact.objects.values_list("email", flat=True)) == ["customer@acme.test"]
        [link] = MagicLink.objects.all()
    # Only the token's hash is kept; the mail holds the token.
    assert link.token_hash != _token(acme)
    assert len(link.token_hash) == 64
    assert link.expires_at - link.created_at == timedelta(minutes=LINK_MINUTES)


def test_sent_page_reads_the_same_for_known_and_unknown(acme, customer):
    pages = []
    for email in ("customer@acme.test", "stranger@acme.test"):
        client = _client(acme)
        _ask(client, email)
        page = client.get("/sign-in/sent/").content.decode()
        assert f"If <strong>{email}</strong> is one we have mail from" in page
        pages.append(_without_tokens(page.replace(email, "ADDRESS")))
    assert pages[0] == pages[1]


def _without_tokens(page: str) -> str:
    """The page without what differs per request (CSRF tokens, the CSP nonce)."""
    return re.sub(r'value="[\w-]{32,}"|"X-CSRFToken": "[\w-]+"|nonce="[^"]+"', "", page)


def test_a_further_address_of_the_contact_gets_the_link_there(acme, customer):
    with acme.scope():
        contact_email_add(contact=customer, email="casey@home.test")
    _ask(_client(acme), "casey@home.test")
    [row] = _links(acme)
    assert (row.to_address, row.contact_id) == ("casey@home.test", customer.pk)


def test_bad_address_is_refused_next_to_the_field(acme):
    response = _ask(_client(acme), "not an address")
    assert response.status_code == 400
    assert _error(response) == "Enter a whole email address, like name@example.com."
    assert 'value="not an address"' in response.content.decode()


def test_requests_are_limited_per_address_typed(acme, customer):
    for n in range(throttle.MAGIC_LINK.per_account):
        assert _ask(_client(acme), "customer@acme.test", address=f"10.0.1.{n}").status_code == 302
        assert _ask(_client(acme), "stranger@acme.test", address=f"10.0.2.{n}").status_code == 302
    known = _ask(_client(acme), "customer@acme.test", address="10.0.3.1")
    unknown = _ask(_client(acme), "stranger@acme.test", address="10.0.3.2")
    assert (known.status_code, _error(known)) == (429, MAGIC_WAIT)
    assert (unknown.status_code, _error(unknown)) == (429, MAGIC_WAIT)
    assert len(_links(acme)) == throttle.MAGIC_LINK.per_account
    # Another address is not limited by it.
    assert _ask(_client(acme), "other@acme.test", address="10.0.3.3").status_code == 302


def test_requests_are_limited_per_client_address(acme, customer):
    for n in range(throttle.MAGIC_LINK.per_address):
        assert _ask(_client(acme), f"guess{n}@acme.test", address="10.9.9.9").status_code == 302
    refused = _ask(_client(acme), "customer@acme.test", address="10.9.9.9")
    assert (refused.status_code, _error(refused)) == (429, MAGIC_WAIT)
    assert _links(acme) == []
    assert _ask(_client(acme), "customer@acme.test", address="10.9.9.8").status_code == 302
    assert len(_links(acme)) == 1


def test_the_same_address_is_limited_per_tenant(acme, globex, customer):
    make_contact(globex, "customer@acme.test")
    for n in range(throttle.MAGIC_LINK.per_account):
        _ask(_client(acme), "customer@acme.test", address=f"10.0.1.{n}")
    assert _ask(_client(acme), "customer@acme.test", address="10.0.5.1").status_code == 429
    assert _ask(_client(globex), "customer@acme.test", address="10.0.5.2").status_code == 302


# -- using a link ------------------------------------------------------------------------------


def test_link_signs_in_once_by_post(acme, customer):
    _ask(_client(acme), "customer@acme.test")
    token = _token(acme)
    browser = _client(acme)
    page = browser.get(f"/sign-in/link/{token}/")
    assert page.status_code == 200
    assert '<button type="submit" class="primary">Sign in</button>' in page.content.decode()
    assert _signed_in_as(browser, acme) is None  # a scanner's GET signs nobody in
    response = browser.post(f"/sign-in/link/{token}/")
    assert (response.status_code, response["Location"]) == (302, "/tickets/")
    assert _signed_in_as(browser, acme) == customer.pk
    assert browser.get("/tickets/").status_code == 200
    with acme.scope():
        account = PortalAccount.objects.get(contact=customer)
        assert account.last_sign_in_at is not None
        assert MagicLink.objects.get().used_at is not None
    # The second time, in any browser: the clear page, nobody signed in.
    other = _client(acme)
    again = other.post(f"/sign-in/link/{token}/")
    assert again.status_code == 410
    assert "This sign-in link was already used." in again.content.decode()
    assert _signed_in_as(other, acme) is None
    assert other.get(f"/sign-in/link/{token}/").status_code == 410


def test_first_sign_in_makes_the_portal_account(acme):
    with acme.scope():
        from tickets.services.contacts import contact_get_or_create

        contact = contact_get_or_create(organization=acme.org, email="new@acme.test")
        assert not PortalAccount.objects.filter(contact=contact).exists()
    _ask(_client(acme), "new@acme.test")
    browser = _client(acme)
    browser.post(f"/sign-in/link/{_token(acme)}/")
    assert _signed_in_as(browser, acme) == contact.pk
    with acme.scope():
        assert PortalAccount.objects.filter(contact=contact).count() == 1


def test_expired_link_fails_with_a_clear_page(acme, customer):
    _ask(_client(acme), "customer@acme.test")
    with acme.scope():
        MagicLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    browser = _client(acme)
    response = browser.post(f"/sign-in/link/{_token(acme)}/")
    assert response.status_code == 410
    assert "This sign-in link has expired." in response.content.decode()
    assert _signed_in_as(browser, acme) is None


def test_made_up_link_fails_with_a_clear_page(acme):
    response = _client(acme).post("/sign-in/link/not-a-real-token/")
    assert response.status_code == 400
    assert "This sign-in link is not valid here." in response.content.decode()


def test_link_on_another_tenants_host_fails_and_stays_good_at_home(acme, globex, customer):
    make_contact(globex, "customer@acme.test")
    _ask(_client(acme), "customer@acme.test")
    token = _token(acme)
    elsewhere = _client(globex)
    for response in (
        elsewhere.get(f"/sign-in/link/{token}/"),
        elsewhere.post(f"/sign-in/link/{token}/"),
    ):
        assert response.status_code == 400
        assert "This sign-in link is not valid here." in response.content.decode()
    assert _signed_in_as(elsewhere, globex) is None
    home = _client(acme)
    assert home.post(f"/sign-in/link/{token}/").status_code == 302
    assert _signed_in_as(home, acme) == customer.pk


@pytest.mark.parametrize(
    ("next_url", "lands_on"),
    [
        ("/tickets/?state=closed", "/tickets/?state=closed"),
        ("https://evil.test/phish", "/tickets/"),
        ("//evil.test/phish", "/tickets/"),
        ("http://globex.localhost/tickets/", "/tickets/"),
    ],
)
def test_next_is_followed_only_on_this_host(acme, customer, next_url, lands_on):
    _ask(_client(acme), "customer@acme.test", next=next_url)
    with acme.scope():
        stored = MagicLink.objects.get().next_url
    assert stored == ("" if lands_on != next_url else next_url)
    response = _client(acme).post(f"/sign-in/link/{_token(acme)}/")
    assert response["Location"] == lands_on


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_next_never_leaves_the_host(acme, customer, hostile):
    """tests/test_redirects.py's targets, through both ways of signing in."""
    _ask(_client(acme), "customer@acme.test", next=hostile)
    assert _client(acme).post(f"/sign-in/link/{_token(acme)}/")["Location"] == "/tickets/"
    _set_password(portal_client(acme, customer))
    response = _client(acme).post(
        f"/sign-in/password/?next={quote(hostile)}",
        {"email": "customer@acme.test", "password": GOOD_PASSWORD, "next": hostile},
    )
    assert response["Location"] == "/tickets/"


def test_signed_out_visitor_comes_back_where_they_were(acme, customer):
    browser = _client(acme)
    response = browser.get("/profile/")
    assert response["Location"] == "/sign-in/?next=%2Fprofile%2F"
    form = browser.get(response["Location"]).content.decode()
    assert '<input type="hidden" name="next" value="/profile/">' in form
    _ask(browser, "customer@acme.test", next="/profile/")
    assert browser.post(f"/sign-in/link/{_token(acme)}/")["Location"] == "/profile/"


def test_sign_out_ends_the_portal_session(acme, customer):
    browser = portal_client(acme, customer)
    assert browser.get("/profile/").status_code == 200
    assert browser.get("/sign-out/").status_code == 405
    assert browser.post("/sign-out/")["Location"] == "/"
    assert browser.get("/profile/").status_code == 302


# -- the mail ----------------------------------------------------------------------------------


def test_sign_in_mail_is_branded_and_sent_by_the_outbox(
    acme, customer, settings, smtp_peer, django_capture_on_commit_callbacks
):
    """Through the outbox and the normal sender (here the platform's SMTP connection to the
    loopback peer), branded like every mail; the link in it signs in."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = smtp_peer.host, smtp_peer.port
    settings.DEFAULT_FROM_EMAIL = "Helpdesk <helpdesk@platform.test>"
    branding_save(
        organization=acme.org,
        accent_color="#aa3300",
        sender_name="Acme Support",
        footer_text="Acme Inc., 1 Road Runner Way",
        logo=ContentFile(PNG, name="logo.png"),
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert _ask(_client(acme), "customer@acme.test").status_code == 302
        [received] = smtp_peer.wait_for(1)
    finally:
        transport.pool.close_all()
    [row] = _links(acme)
    assert (row.status, row.kind, row.ticket_id) == ("sent", "portal_sign_in", None)
    message = received.message
    assert (message["From"], message["To"], message["Subject"]) == (
        "Acme Support <helpdesk@platform.test>",
        "Casey Customer <customer@acme.test>",
        "Your sign-in link for Acme Support",
    )
    assert (message["Auto-Submitted"], message["Message-ID"]) == (
        "auto-generated",
        f"<{row.message_id}>",
    )
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert text.endswith("\n\n-- \nAcme Inc., 1 Road Runner Way\n")
    assert f"within {LINK_MINUTES} minutes" in text
    assert "border-top: 4px solid #aa3300" in html
    assert "Acme Inc., 1 Road Runner Way" in html
    assert "/brand/logo?v=" in html
    link = LINK_RE.search(text)
    assert link is not None
    assert link["host"] == "acme.localhost"
    assert f'href="{link[0]}"' in html
    browser = _client(acme)
    browser.post(f"/sign-in/link/{link['token']}/")
    assert _signed_in_as(browser, acme) == customer.pk


# -- passwords ---------------------------------------------------------------------------------


def _set_password(client, password=GOOD_PASSWORD, current=None):
    data = {"form": "password", "new_password1": password, "new_password2": password}
    if current is not None:
        data["current_password"] = current
    return client.post("/profile/", data)


def _password_sign_in(client, email, password, address="10.0.0.1"):
    return client.post(
        "/sign-in/password/", {"email": email, "password": password}, REMOTE_ADDR=address
    )


def _form_error(response) -> str:
    return " ".join(response.context["form"].non_field_errors())


def test_password_set_then_sign_in_with_it(acme, customer):
    assert _set_password(portal_client(acme, customer)).status_code == 302
    browser = _client(acme)
    response = _password_sign_in(browser, "CUSTOMER@acme.test", GOOD_PASSWORD)
    assert (response.status_code, response["Location"]) == (302, "/tickets/")
    assert _signed_in_as(browser, acme) == customer.pk
    # Links keep working too.
    _ask(_client(acme), "customer@acme.test")
    other = _client(acme)
    other.post(f"/sign-in/link/{_token(acme)}/")
    assert _signed_in_as(other, acme) == customer.pk


def test_wrong_password_and_unknown_address_get_the_same_error(acme, customer):
    _set_password(portal_client(acme, customer))
    make_contact(acme, "nopassword@acme.test")
    answers = [
        _password_sign_in(_client(acme), "customer@acme.test", "wrong one"),
        _password_sign_in(_client(acme), "nobody@acme.test", "wrong one"),
        _password_sign_in(_client(acme), "nopassword@acme.test", "wrong one"),
        _password_sign_in(_client(acme), "nopassword@acme.test", ""),
    ]
    assert [(r.status_code, _form_error(r)) for r in answers[:3]] == [(400, WRONG)] * 3
    assert answers[3].context["form"].errors["password"] == ["Enter your password."]


def test_password_failures_lock_the_address_typed(acme, customer):
    _set_password(portal_client(acme, customer))
    locked = "Too many failed sign-ins; try again in 1 minute."
    for n in range(throttle.SIGN_IN.per_account - 1):
        response = _password_sign_in(_client(acme), "customer@acme.test", "no", f"10.0.1.{n}")
        assert _form_error(response) == WRONG
    response = _password_sign_in(_client(acme), "customer@acme.test", "no", "10.0.2.1")
    assert (response.status_code, _form_error(response)) == (429, locked)
    browser = _client(acme)
    right = _password_sign_in(browser, "customer@acme.test", GOOD_PASSWORD, "10.0.3.1")
    assert (right.status_code, _form_error(right)) == (429, locked)
    assert _signed_in_as(browser, acme) is None


def test_password_failures_lock_the_client_address(acme, customer):
    _set_password(portal_client(acme, customer))
    for n in range(throttle.SIGN_IN.per_address):
        _password_sign_in(_client(acme), f"guess{n}@acme.test", "no", "10.9.9.9")
    browser = _client(acme)
    response = _password_sign_in(browser, "customer@acme.test", GOOD_PASSWORD, "10.9.9.9")
    assert response.status_code == 429
    assert _signed_in_as(browser, acme) is None


def test_new_password_ends_other_sessions_and_keeps_this_one(acme, customer):
    mine, other = portal_client(acme, customer), portal_client(acme, customer)
    assert _set_password(mine)["Location"] == "/profile/"
    assert mine.get("/profile/").status_code == 200
    assert other.get("/profile/")["Location"] == "/sign-in/?next=%2Fprofile%2F"
    with acme.scope():
        assert PortalAccount.objects.get(contact=customer).session_epoch == 1
    # Changing it asks for the current one.
    wrong = _set_password(mine, "another good one", current="not it")
    assert wrong.status_code == 400
    errors = wrong.context["password_form"].errors["current_password"]
    assert errors == ["That is not your current password."]
    right = _set_password(mine, "another good one", current=GOOD_PASSWORD)
    assert right.status_code == 302
    assert mine.get("/profile/").status_code == 200


def test_weak_or_mismatched_password_is_refused_next_to_the_field(acme, customer):
    browser = portal_client(acme, customer)
    short = _set_password(browser, "short")
    assert short.status_code == 400
    assert short.context["password_form"].errors["new_password1"] == [
        "This password is too short. It must contain at least 8 characters."
    ]
    differ = browser.post(
        "/profile/",
        {"form": "password", "new_password1": "long enough 1", "new_password2": "long enough 2"},
    )
    assert differ.context["password_form"].errors["new_password2"] == [
        "The two passwords differ; type the same one twice."
    ]
    with acme.scope():
        assert PortalAccount.objects.get(contact=customer).password == ""


# -- two tenants -------------------------------------------------------------------------------


def test_the_same_person_in_two_tenants_never_crosses(acme, globex, customer):
    theirs = make_contact(globex, "customer@acme.test", "Casey at Globex")
    _set_password(portal_client(acme, customer))
    # Signed in to acme: globex's host signs in nobody with that session.
    browser = portal_client(acme, customer)
    assert browser.get("/profile/", HTTP_HOST="globex.localhost").status_code == 302
    # acme's password is not globex's.
    response = _password_sign_in(_client(globex), "customer@acme.test", GOOD_PASSWORD)
    assert _form_error(response) == WRONG
    # A link asked for on globex signs in globex's contact only.
    _ask(_client(globex), "customer@acme.test")
    at_globex = _client(globex)
    at_globex.post(f"/sign-in/link/{_token(globex)}/")
    assert _signed_in_as(at_globex, globex) == theirs.pk
    assert at_globex.get("/profile/", HTTP_HOST="acme.localhost").status_code == 302


# -- CSRF --------------------------------------------------------------------------------------


def test_sign_in_posts_need_the_csrf_token(acme, customer):
    _ask(_client(acme), "customer@acme.test")
    token = _token(acme)
    strict = _client(acme, enforce_csrf_checks=True)
    assert strict.post("/sign-in/", {"email": "customer@acme.test"}).status_code == 403
    assert strict.post(f"/sign-in/link/{token}/").status_code == 403
    assert (
        strict.post("/sign-in/password/", {"email": "a@b.test", "password": "x"}).status_code == 403
    )
    assert len(_links(acme)) == 1
    # With the page's token the same POST works.
    page = strict.get(f"/sign-in/link/{token}/").content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    assert strict.post(f"/sign-in/link/{token}/", {"csrfmiddlewaretoken": csrf}).status_code == 302


# -- the front page ----------------------------------------------------------------------------


def test_front_page_welcomes_and_offers_sign_in(acme):
    with acme.scope():
        PortalSettings.objects.update_or_create(
            organization=acme.org, defaults={"welcome_text": "<b>Hi</b> there.\n\nWe answer fast."}
        )
    page = _client(acme).get("/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<p>&lt;b&gt;Hi&lt;/b&gt; there.</p>\n\n<p>We answer fast.</p>" in html
    assert 'action="/sign-in/"' in html
    assert '<a class="button" href="/contact/">Contact us</a>' in html
    assert "My tickets" not in html
    assert page["Cache-Control"] == "private, no-store"


def test_front_page_for_a_signed_in_contact(acme, customer):
    html = portal_client(acme, customer).get("/").content.decode()
    assert '<a class="portal-way" href="/tickets/">' in html
    assert 'action="/sign-in/"' not in html
    assert "Signed in as customer@acme.test" in html


def test_front_page_with_the_portal_off_is_the_old_one(acme):
    with acme.scope():
        settings_row = portal_settings(acme.org)
        settings_row.portal_enabled = False
        settings_row.save(update_fields=["portal_enabled"])
    assert acme.client(acme.agent).get("/")["Location"] == "/agent/"
    assert _client(acme).get("/")["Location"] == "/login/"
    assert _client(acme).get("/sign-in/").status_code == 404
    assert _ask(_client(acme), "customer@acme.test").status_code == 404


def test_agents_see_the_banner(acme):
    html = acme.client(acme.agent).get("/").content.decode()
    assert "You are signed in as an agent." in html
    assert "You are signed in as an agent." not in _client(acme).get("/").content.decode()


# -- an agent's preview ------------------------------------------------------------------------


def test_agent_previews_the_portal_as_a_contact(acme, customer):
    agent = acme.client(acme.agent)
    contact_page = agent.get(f"/agent/contacts/{customer.pk}/").content.decode()
    assert f'action="/portal/preview/{customer.pk}/"' in contact_page
    assert agent.get(f"/portal/preview/{customer.pk}/").status_code == 405
    response = agent.post(f"/portal/preview/{customer.pk}/")
    assert response["Location"] == "/tickets/"
    page = agent.get("/tickets/")
    html = page.content.decode()
    assert "You are viewing the portal as <strong>Casey Customer</strong>" in html
    assert 'action="/portal/preview/stop/"' in html
    assert 'href="/profile/"' not in html
    assert page["Cache-Control"] == "private, no-store"
    # Read-only: the profile (and its changes) are not there in a preview.
    assert agent.get("/profile/").status_code == 404
    saved = agent.post("/profile/", {"form": "profile", "name": "Hacked", "mail": "none"})
    assert saved.status_code == 404
    with acme.scope():
        assert Contact.objects.get(pk=customer.pk).name == "Casey Customer"
    stop = agent.post("/portal/preview/stop/")
    assert stop["Location"] == f"/agent/contacts/{customer.pk}/"
    assert "You are viewing the portal as" not in agent.get("/").content.decode()


def test_preview_is_for_agents_and_their_own_contacts(acme, globex, customer):
    foreign = make_contact(globex, "someone@globex.test")
    assert acme.client(acme.agent).post(f"/portal/preview/{foreign.pk}/").status_code == 404
    assert portal_client(acme, customer).post(f"/portal/preview/{customer.pk}/").status_code == 404
    assert _client(acme).post(f"/portal/preview/{customer.pk}/").status_code == 404
    # globex's agent on acme's host is nobody's agent there.
    visitor = _client(acme)
    visitor.force_login(globex.agent)
    assert visitor.post(f"/portal/preview/{customer.pk}/").status_code == 404


def test_preview_ends_when_the_agent_signs_out(acme, customer):
    agent = acme.client(acme.agent)
    agent.post(f"/portal/preview/{customer.pk}/")
    agent.logout()
    assert agent.get("/tickets/")["Location"] == "/sign-in/?next=%2Ftickets%2F"


def test_a_link_used_between_the_check_and_the_claim_signs_in_nobody(acme, customer, monkeypatch):
    """Two POSTs of one link at once: both read it unused, one UPDATE claims it; the other
    request finds the row used by then and gets the clear page."""
    from portal.services import auth as services

    _ask(_client(acme), "customer@acme.test")
    check = services.magic_link_check

    def check_then_lose_the_race(*, token, now):
        link = check(token=token, now=now)
        MagicLink.objects.filter(pk=link.pk).update(used_at=now)  # the other request's claim
        return link

    monkeypatch.setattr(services, "magic_link_check", check_then_lose_the_race)
    browser = _client(acme)
    response = browser.post(f"/sign-in/link/{_token(acme)}/")
    assert response.status_code == 410
    assert "This sign-in link was already used." in response.content.decode()
    assert _signed_in_as(browser, acme) is None
    with acme.scope():
        assert not PortalAccount.objects.filter(contact=customer, last_sign_in_at__isnull=False)
