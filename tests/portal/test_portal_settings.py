"""Settings -> Portal: admins only; each setting saved; bad input answered with messages;
company-wide visibility per customer (CompanyAccess); two tenants; a fixed query count however
many customers; the branding summary and the addresses to copy; the settings navigation."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.models import CompanyAccess, IntakeForm
from portal.selectors import portal_settings
from tickets.models import Customer
from tickets.services.contacts import contact_get_or_create

URL = "/settings/portal/"


def valid(**changes) -> dict:
    data = {
        "portal_enabled": "on",
        "contact_form_enabled": "on",
        "contact_form_intake": "",
        "welcome_text": "Hello there.",
        "label_new": "Got it",
        "label_open": "Working on it",
        "label_pending": "Your turn",
        "label_resolved": "Done",
        "label_closed": "Archived",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def stored(tenant):
    with tenant.scope():
        return portal_settings(tenant.org)


def customers(tenant, count: int, prefix: str = "Customer") -> list[Customer]:
    with tenant.scope():
        return [
            Customer.objects.create(organization=tenant.org, name=f"{prefix} {i:03d}")
            for i in range(count)
        ]


def test_settings_page_is_for_admins_only(acme):
    assert acme.client(acme.admin).get(URL).status_code == 200
    assert acme.client(acme.agent).get(URL).status_code == 404
    assert acme.client(acme.agent).post(URL, valid(welcome_text="Hacked")).status_code == 404
    anonymous = acme.client().get(URL)
    assert (anonymous.status_code, anonymous["Location"].split("?")[0]) == (302, "/login/")
    assert stored(acme).welcome_text != "Hacked"


def test_settings_save_every_field(acme):
    with acme.scope():
        form = IntakeForm.objects.create(organization=acme.org, name="Bug report")
    data = valid(portal_enabled=None, contact_form_enabled=None, contact_form_intake=form.pk)
    response = acme.client(acme.admin).post(URL, data, follow=True)
    assert response.redirect_chain == [(URL, 302)]
    assert "Portal settings saved." in response.content.decode()
    found = stored(acme)
    assert (found.portal_enabled, found.contact_form_enabled) == (False, False)
    assert found.contact_form_intake_id == form.pk
    assert found.welcome_text == "Hello there."
    assert [found.label_for(c) for c in ("new", "open", "pending", "resolved", "closed")] == [
        "Got it",
        "Working on it",
        "Your turn",
        "Done",
        "Archived",
    ]
    acme.client(acme.admin).post(URL, valid())
    found = stored(acme)
    assert (found.portal_enabled, found.contact_form_enabled) == (True, True)
    assert found.contact_form_intake_id is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"label_open": ""}, "Give this status a label customers see."),
        ({"label_pending": "   "}, "Give this status a label customers see."),
        ({"label_closed": "x" * 61}, "Keep the label to 60 characters or fewer."),
        ({"welcome_text": "w" * 2001}, "Keep the welcome text to 2000 characters."),
        ({"contact_form_intake": "nope"}, "Choose one of your enabled intake forms."),
    ],
)
def test_bad_input_gets_messages_and_saves_nothing(acme, changes, message):
    response = acme.client(acme.admin).post(URL, valid(**changes))
    text = response.content.decode()
    assert response.status_code == 400
    assert message in text
    assert "Nothing was saved: check the fields marked below." in text
    assert stored(acme).welcome_text != "Hello there."


def test_only_this_tenants_enabled_intake_forms_are_offered(acme, globex):
    with acme.scope():
        mine = IntakeForm.objects.create(organization=acme.org, name="Billing question")
        off = IntakeForm.objects.create(organization=acme.org, name="Old form", enabled=False)
    with globex.scope():
        theirs = IntakeForm.objects.create(organization=globex.org, name="Globex secret form")
    text = acme.client(acme.admin).get(URL).content.decode()
    assert f'<option value="{mine.pk}">Billing question</option>' in text
    assert "Old form" not in text
    assert "Globex secret form" not in text
    for pk in (off.pk, theirs.pk):
        response = acme.client(acme.admin).post(URL, valid(contact_form_intake=pk))
        assert response.status_code == 400
        assert "Choose one of your enabled intake forms." in response.content.decode()
        assert stored(acme).contact_form_intake_id is None


def test_switching_the_contact_form_off_hides_it(acme):
    assert acme.client().get("/contact/").status_code == 200
    acme.client(acme.admin).post(URL, valid(contact_form_enabled=None))
    assert acme.client().get("/contact/").status_code == 404
    assert acme.client().get("/contact/embed/").status_code == 404


# -- company-wide visibility ------------------------------------------------------------------


def toggle(tenant, customer, allowed, **extra):
    url = f"{URL}customers/{customer.pk}/company/"
    return tenant.client(tenant.admin).post(url, {"allowed": allowed, **extra}, follow=True)


def allowed_names(tenant) -> list[str]:
    with tenant.scope():
        return sorted(CompanyAccess.objects.values_list("customer__name", flat=True))


def test_company_visibility_toggles_company_access(acme):
    [northwind, contoso] = customers(acme, 2)
    response = toggle(acme, northwind, "1")
    assert response.redirect_chain == [(f"{URL}#company", 302)]
    assert (
        f"Contacts of {northwind.name} now see all of its tickets in the portal."
        in response.content.decode()
    )
    assert allowed_names(acme) == [northwind.name]
    toggle(acme, northwind, "1")  # again: still one row
    toggle(acme, contoso, "1")
    assert allowed_names(acme) == [northwind.name, contoso.name]
    response = toggle(acme, northwind, "0")
    assert (
        f"Contacts of {northwind.name} now see only their own tickets in the portal."
        in response.content.decode()
    )
    assert allowed_names(acme) == [contoso.name]


def test_company_visibility_shows_in_the_list(acme):
    [northwind] = customers(acme, 1)
    with acme.scope():
        for email in ("a@nw.test", "b@nw.test"):
            contact = contact_get_or_create(organization=acme.org, email=email)
            contact.customer = northwind
            contact.save(update_fields=["customer"])
    text = acme.client(acme.admin).get(URL).content.decode()
    assert "<td>Customer 000</td>\n      <td>2</td>\n      <td>Their own tickets</td>" in text
    toggle(acme, northwind, "1")
    text = acme.client(acme.admin).get(URL).content.decode()
    assert "<td>2</td>\n      <td><strong>All of the company's tickets</strong></td>" in text


def test_company_visibility_bad_value_gets_a_message(acme):
    [northwind] = customers(acme, 1)
    response = toggle(acme, northwind, "maybe")
    assert "Choose whether the company&#x27;s contacts see all." in response.content.decode()
    assert allowed_names(acme) == []


def test_company_visibility_of_another_tenants_customer_is_not_found(acme, globex):
    [theirs] = customers(globex, 1)
    url = f"{URL}customers/{theirs.pk}/company/"
    assert acme.client(acme.admin).post(url, {"allowed": "1"}).status_code == 404
    assert acme.client(acme.agent).post(url, {"allowed": "1"}).status_code == 404
    assert allowed_names(globex) == []


def test_company_visibility_search_and_pages(acme, globex):
    customers(acme, 30)
    customers(acme, 1, prefix="Northwind")
    customers(globex, 1, prefix="Globex Client")
    page_one = acme.client(acme.admin).get(URL).content.decode()
    assert "Page 1 of 2" in page_one
    assert "Globex Client" not in page_one
    found = acme.client(acme.admin).get(URL, {"q": "northw"}).content.decode()
    assert "Northwind 000" in found
    assert "Customer 000" not in found
    assert (
        "No customer matches “zzz”."
        in acme.client(acme.admin).get(URL, {"q": "zzz"}).content.decode()
    )
    assert acme.client(acme.admin).get(URL, {"page": "x"}).status_code == 200
    assert acme.client(acme.admin).get(URL, {"page": "99"}).status_code == 200
    [customer] = customers(acme, 1, prefix="Zeta")
    response = toggle(acme, customer, "1", q="Zeta", page="2")
    assert response.redirect_chain == [(f"{URL}?q=Zeta&page=2#company", 302)]


def _queries(tenant) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = tenant.client(tenant.admin).get(URL)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_settings_page_query_count_is_fixed(acme):
    [first] = customers(acme, 1)
    toggle(acme, first, "1")
    one = _queries(acme)
    more = customers(acme, 49)
    for customer in more[::2]:
        toggle(acme, customer, "1")
    assert _queries(acme) == one


# -- what the page shows to copy --------------------------------------------------------------


def test_branding_summary_and_addresses(acme):
    acme.org.sender_name = "Acme Support"
    acme.org.footer_text = "Acme Inc, Road Runner Lane 1"
    acme.org.save()
    text = acme.client(acme.admin).get(URL).content.decode()
    assert "Acme Support" in text
    assert "Acme Inc, Road Runner Lane 1" in text
    assert 'href="/settings/branding/"' in text
    assert 'value="http://acme.localhost:8000/contact/"' in text
    assert (
        "&lt;iframe src=&quot;http://acme.localhost:8000/contact/embed/&quot; "
        "title=&quot;Contact Acme Support&quot;" in text
    )


def test_settings_navigation_lists_the_portal_pages(acme):
    text = acme.client(acme.admin).get("/settings/").content.decode()
    assert 'href="/settings/portal/">Portal</a>' in text
    assert 'href="/settings/portal/forms/">Portal forms</a>' in text
