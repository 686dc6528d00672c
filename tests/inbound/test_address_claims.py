"""Issue 9, hole 2: a tenant claims only inbound addresses on domains it owns.

Through the real settings page as acme's admin, with globex existing: the platform's per-tenant
domains, custom domains verified by DNS (the resolver replaced: public DNS is the one thing we
mock) or one address confirmed by a mail that comes back through intake.
"""

import re

import pytest
from django.core import mail as outbox
from django.db import IntegrityError
from django_scopes import scopes_disabled

from inbound_mail import domains
from inbound_mail.models import AddressConfirmation, InboundAddress, InboundMessage, MailDomain
from inbound_mail.services import addresses as address_services
from inbound_mail.services import intake
from tests.inbound.mails import mail
from tickets.models import Ticket

PAGE = "/settings/mail/addresses/"


@pytest.fixture
def txt(monkeypatch):
    """The fake resolver: name -> TXT strings; every other name has none."""
    records: dict[str, list[str]] = {}
    monkeypatch.setattr(domains, "txt_records", lambda name: records.get(name.lower(), []))
    return records


def _all_addresses() -> list[tuple[str, str]]:
    with scopes_disabled():  # the test reads every tenant's rows
        rows = InboundAddress.objects.select_related("organization").order_by("address")
        return [(a.organization.slug, a.address) for a in rows]


def _text(response) -> str:
    return response.content.decode()


def _add(client, address: str):
    return client.post(PAGE, {"action": "add", "address": address, "plus_addressing": "on"})


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("billing@globex.localhost", "not a domain of this account"),
        ("billing@globex.helpdesk.localhost", "not a domain of this account"),
        ("agent@globex.test", "globex.test is not verified"),
        ("x@localhost", "is the platform&#x27;s own domain"),
        ("x@helpdesk.localhost", "is the platform&#x27;s own domain"),
        ("postmaster@acme.localhost", "is reserved"),
        ("Abuse@acme.helpdesk.localhost", "is reserved"),
        ("mailer-daemon@acme.localhost", "is reserved"),
        ("no-reply@acme.localhost", "is reserved"),
        ("support@example.com", "example.com is not verified"),
        ("help@deep.acme.localhost", "not a domain of this account"),
    ],
)
def test_address_refused_with_message_and_nothing_stored(acme, globex, address, message):
    response = _add(acme.client(acme.admin), address)
    assert response.status_code == 400
    assert message in _text(response)
    assert _all_addresses() == []


def test_address_of_another_tenants_user_refused(acme, globex):
    with globex.scope():
        InboundAddress.objects.create(organization=globex.org, address="help@globex.test")
    globex.agent.email = "gina@acme.localhost"
    globex.agent.save(update_fields=["email"])
    response = _add(acme.client(acme.admin), "gina@acme.localhost")
    assert response.status_code == 400
    assert "belongs to a user of another account" in _text(response)
    assert _all_addresses() == [("globex", "help@globex.test")]


def test_address_on_own_platform_domains_accepted(acme, globex):
    client = acme.client(acme.admin)
    assert _add(client, "Support@ACME.localhost").status_code == 302
    assert _add(client, "billing@acme.helpdesk.localhost").status_code == 302
    assert _all_addresses() == [
        ("acme", "billing@acme.helpdesk.localhost"),
        ("acme", "support@acme.localhost"),
    ]


def test_address_taken_by_another_tenant_refused(acme, globex):
    assert _add(globex.client(globex.admin), "help@globex.localhost").status_code == 302
    # globex verified example.com; acme can neither verify it nor claim an address on it.
    with globex.scope():
        MailDomain.objects.create(organization=globex.org, domain="example.com", verified=True)
        InboundAddress.objects.create(organization=globex.org, address="help@example.com")
    client = acme.client(acme.admin)
    for address in ("help@example.com", "sales@example.com"):
        assert "example.com is not verified" in _text(_add(client, address))
    # Nor by a confirmation mail: the domain is globex's.
    response = client.post(PAGE, {"action": "confirm", "address": "sales@example.com"})
    assert "example.com is not a domain of this account" in _text(response)
    assert _all_addresses() == [("globex", "help@example.com"), ("globex", "help@globex.localhost")]


def test_race_reaching_the_database_is_a_form_error(acme, globex, monkeypatch):
    """Both tenants pass the form's check; the unique constraint decides, as a form error."""
    with globex.scope():
        InboundAddress.objects.create(organization=globex.org, address="help@acme.localhost")
    monkeypatch.setattr(address_services, "address_refusal", lambda **kwargs: None)
    response = _add(acme.client(acme.admin), "help@acme.localhost")
    assert response.status_code == 400
    assert "This address is already in use." in _text(response)
    assert _all_addresses() == [("globex", "help@acme.localhost")]


def test_address_unique_ignoring_case_in_the_database(acme, globex):
    with globex.scope():
        InboundAddress.objects.create(organization=globex.org, address="help@globex.localhost")
    with acme.scope(), pytest.raises(IntegrityError):
        InboundAddress.objects.create(organization=acme.org, address="HELP@globex.localhost")


def test_mail_to_refused_address_not_routed_to_claimer(
    acme, globex, django_capture_on_commit_callbacks
):
    """globex has not set the address up yet: acme's claim must not catch its mail."""
    _add(acme.client(acme.admin), "billing@globex.localhost")
    with django_capture_on_commit_callbacks(execute=True):
        receipt = intake.inbound_receive(raw=mail(to="billing@globex.localhost"), source="command")
    assert (receipt.inbound_ids, receipt.unclaimed_id is not None) == ([], True)
    with acme.scope():
        assert Ticket.objects.count() == 0


# -- custom domains by DNS -------------------------------------------------------------------


def _domain_token(tenant, name: str) -> str:
    with tenant.scope():
        return MailDomain.objects.get(domain=name).token


def test_custom_domain_verified_by_txt_then_addresses_accepted(acme, globex, txt):
    client = acme.client(acme.admin)
    added = client.post(PAGE, {"action": "domain", "domain": "Example.COM"})
    assert added.status_code == 302
    token = _domain_token(acme, "example.com")
    page = _text(client.get(PAGE))
    assert f"helpdesk-verification={token}" in page
    assert "_helpdesk.example.com" in page
    with acme.scope():
        pk = MailDomain.objects.get().pk
    # No record yet: still unverified, and its addresses are refused.
    failed = client.post(f"/settings/mail/addresses/domains/{pk}/verify/", follow=True)
    assert "No TXT record" in _text(failed)
    assert "example.com is not verified" in _text(_add(client, "support@example.com"))
    txt["_helpdesk.example.com"] = ["v=other", f"helpdesk-verification={token}"]
    client.post(f"/settings/mail/addresses/domains/{pk}/verify/")
    with acme.scope():
        assert MailDomain.objects.get().verified is True
    assert _add(client, "support@example.com").status_code == 302
    assert "postmaster@ is reserved" in _text(_add(client, "postmaster@example.com"))
    assert _all_addresses() == [("acme", "support@example.com")]


def test_txt_of_another_tenant_does_not_verify(acme, globex, txt):
    acme.client(acme.admin).post(PAGE, {"action": "domain", "domain": "example.com"})
    globex_client = globex.client(globex.admin)
    globex_client.post(PAGE, {"action": "domain", "domain": "example.com"})
    txt["example.com"] = [f"helpdesk-verification={_domain_token(acme, 'example.com')}"]
    with globex.scope():
        pk = MailDomain.objects.get().pk
    globex_client.post(f"/settings/mail/addresses/domains/{pk}/verify/")
    with globex.scope():
        assert MailDomain.objects.get().verified is False
    with acme.scope():
        pk = MailDomain.objects.get().pk
    acme.client(acme.admin).post(f"/settings/mail/addresses/domains/{pk}/verify/")
    # Now verified by acme: globex's own record can no longer verify it.
    txt["_helpdesk.example.com"] = [f"helpdesk-verification={_domain_token(globex, 'example.com')}"]
    with globex.scope():
        pk = MailDomain.objects.get().pk
    response = globex_client.post(f"/settings/mail/addresses/domains/{pk}/verify/", follow=True)
    assert "already verified by another account" in _text(response)
    with scopes_disabled():  # both tenants' rows
        assert sorted(MailDomain.objects.values_list("organization__slug", "verified")) == [
            ("acme", True),
            ("globex", False),
        ]


@pytest.mark.parametrize("name", ["localhost", "globex.localhost", "acme.helpdesk.localhost"])
def test_platform_domains_cannot_be_added_as_custom(acme, globex, name):
    response = acme.client(acme.admin).post(PAGE, {"action": "domain", "domain": name})
    assert response.status_code == 400
    assert "platform" in _text(response)
    with scopes_disabled():  # nothing stored for anyone
        assert MailDomain.objects.count() == 0


def test_other_tenants_domain_is_404(acme, globex):
    with globex.scope():
        other = MailDomain.objects.create(organization=globex.org, domain="globex.example")
    client = acme.client(acme.admin)
    assert client.post(f"/settings/mail/addresses/domains/{other.pk}/verify/").status_code == 404
    assert client.post(f"/settings/mail/addresses/domains/{other.pk}/delete/").status_code == 404
    with globex.scope():
        assert MailDomain.objects.count() == 1


# -- one address confirmed by a mail ---------------------------------------------------------


def _request_confirmation(tenant, address: str, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return tenant.client(tenant.admin).post(PAGE, {"action": "confirm", "address": address})


def _code(message) -> str:
    return re.search(r"hdconfirm-\d+-[0-9a-f]+", message.body).group(0)


def test_confirmation_mail_arriving_back_makes_the_address(
    acme, globex, django_capture_on_commit_callbacks
):
    with acme.scope():
        InboundAddress.objects.create(organization=acme.org, address="acme@acme.localhost")
    response = _request_confirmation(acme, "help@shop.example", django_capture_on_commit_callbacks)
    assert response.status_code == 302
    [sent] = outbox.outbox
    assert sent.to == ["help@shop.example"]
    code = _code(sent)
    assert code in sent.subject
    assert _all_addresses() == [("acme", "acme@acme.localhost")]
    # The shop's mailbox forwards to acme's platform address: the mail comes back.
    raw = sent.message().as_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        receipt = intake.inbound_receive(
            raw=raw, source="webhook", envelope_recipients=["acme@acme.localhost"]
        )
    assert _all_addresses() == [("acme", "acme@acme.localhost"), ("acme", "help@shop.example")]
    with acme.scope():
        assert AddressConfirmation.objects.count() == 0
        assert Ticket.objects.count() == 0
        [row] = InboundMessage.objects.filter(pk__in=receipt.inbound_ids)
        assert (row.status, row.reason) == (
            "ignored",
            "address confirmation: help@shop.example is now an inbound address",
        )


def test_confirmation_arriving_through_another_tenant_does_not_count(
    acme, globex, django_capture_on_commit_callbacks
):
    with globex.scope():
        InboundAddress.objects.create(organization=globex.org, address="help@globex.localhost")
    _request_confirmation(acme, "help@shop.example", django_capture_on_commit_callbacks)
    [sent] = outbox.outbox
    with django_capture_on_commit_callbacks(execute=True):
        intake.inbound_receive(
            raw=sent.message().as_bytes(),
            source="webhook",
            envelope_recipients=["help@globex.localhost"],
        )
    assert _all_addresses() == [("globex", "help@globex.localhost")]
    with acme.scope():
        assert AddressConfirmation.objects.count() == 1


def test_confirmation_code_entered_by_admin(acme, globex, django_capture_on_commit_callbacks):
    _request_confirmation(acme, "help@shop.example", django_capture_on_commit_callbacks)
    [sent] = outbox.outbox
    client = acme.client(acme.admin)
    page = _text(client.get(PAGE))
    assert "help@shop.example" in page
    assert "waiting for confirmation" in page
    wrong = client.post(PAGE, {"action": "code", "code": _code(sent)[:-2] + "00"})
    assert wrong.status_code == 400
    assert "This code is not valid" in _text(wrong)
    assert _all_addresses() == []
    # Another tenant cannot use acme's code.
    globex.client(globex.admin).post(PAGE, {"action": "code", "code": _code(sent)})
    assert _all_addresses() == []
    assert client.post(PAGE, {"action": "code", "code": _code(sent)}).status_code == 302
    assert _all_addresses() == [("acme", "help@shop.example")]


def test_confirmation_refused_for_reserved_and_foreign_addresses(
    acme, globex, django_capture_on_commit_callbacks
):
    for address in ("postmaster@shop.example", "billing@globex.localhost", "x@localhost"):
        response = _request_confirmation(acme, address, django_capture_on_commit_callbacks)
        assert response.status_code == 400
    assert outbox.outbox == []
    with acme.scope():
        assert AddressConfirmation.objects.count() == 0


def test_confirmation_requests_bounded_per_tenant(acme, globex, django_capture_on_commit_callbacks):
    for n in range(address_services.MAX_WAITING):
        _request_confirmation(acme, f"help{n}@shop.example", django_capture_on_commit_callbacks)
    response = _request_confirmation(
        acme, "one-more@shop.example", django_capture_on_commit_callbacks
    )
    assert response.status_code == 400
    assert "10 addresses are already waiting for confirmation" in _text(response)
    # Asking again for one that waits sends its mail again, with the same code.
    again = _request_confirmation(acme, "help0@shop.example", django_capture_on_commit_callbacks)
    assert again.status_code == 302
    assert len(outbox.outbox) == 11
    assert _code(outbox.outbox[0]) == _code(outbox.outbox[-1])
    with acme.scope():
        assert AddressConfirmation.objects.count() == 10


def test_confirmation_arriving_at_the_address_itself(
    acme, globex, django_capture_on_commit_callbacks
):
    """The domain's mail reaches the platform as it is (its MX, a redirect): no tenant but the
    one that asked is named, so the confirmation counts."""
    _request_confirmation(acme, "help@shop.example", django_capture_on_commit_callbacks)
    [sent] = outbox.outbox
    with django_capture_on_commit_callbacks(execute=True):
        intake.inbound_receive(
            raw=sent.message().as_bytes(),
            source="webhook",
            envelope_recipients=["help@shop.example"],
        )
    assert _all_addresses() == [("acme", "help@shop.example")]


def test_migration_lower_cases_existing_addresses(acme):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("inbound_mail.migrations.0004_inbound_addresses_owned_domains")
    with acme.scope():
        InboundAddress.objects.create(organization=acme.org, address="Mixed@Acme.localhost")
    migration.lower_case_addresses(apps, None)
    assert _all_addresses() == [("acme", "mixed@acme.localhost")]
