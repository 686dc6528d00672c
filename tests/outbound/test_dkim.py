"""DKIM signing of outgoing mail with the tenant's own key, and the settings page that makes
keys, shows the DNS records to publish and checks them (issue 16, part 6).

Signatures are verified with dkimpy against the key the page tells the tenant to publish (its
DNS lookup replaced through `dnsfunc`); the page's DNS check gets a resolver that answers from
a table (public DNS is outside the test), with dnspython's own records and exceptions.
"""

import html
import re

import dkim
import dns.exception
import dns.rdata
import dns.resolver
import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from outbound_mail import delivery, dkim_keys
from outbound_mail.models import DkimKey
from outbound_mail.services import dkim as dkim_service
from outbound_mail.services.notify import notify_event
from outbound_mail.services.sending import outgoing_send_due, outgoing_send_test
from tests.factories import make_ticket
from tests.outbound.conftest import T0, connect
from tickets import events

State = DkimKey.State


# -- helpers -------------------------------------------------------------------------------------


def make_key(tenant, *, domain: str, selector: str, activate: bool = True) -> DkimKey:
    with tenant.scope():
        key = dkim_service.dkim_key_generate(
            organization=tenant.org, domain=domain, selector=selector, user=tenant.admin, now=T0
        )
        if activate:
            key = dkim_service.dkim_key_activate(organization=tenant.org, now=T0)
    return key


def published(*keys: DkimKey):
    """dkimpy's DNS lookup, answering with the DKIM records of these keys only."""
    table = {
        f"{k.selector}._domainkey.{k.domain}": f"v=DKIM1; k=rsa; p={k.public_key}".encode()
        for k in keys
    }

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return table.get(name.decode().rstrip("."))

    return dnsfunc


def signature_tags(raw: bytes) -> dict[str, str]:
    header = re.search(rb"^DKIM-Signature:(.*?)\r?\n(?=\S)", raw, re.S | re.M)
    assert header is not None
    value = re.sub(rb"\s+", b"", header.group(1)).decode()
    return dict(part.split("=", 1) for part in value.split(";") if part)


def send_test(tenant, to="me@example.test"):
    with tenant.scope():
        return outgoing_send_test(organization=tenant.org, to_address=to, user=None, now=T0)


def queue_and_send_confirmation(tenant):
    """A customer's new ticket: the confirmation (with the thread headers) and the alerts."""
    with tenant.scope():
        with events.muted():
            ticket = make_ticket(tenant.org, email="carol@customer.test")
        notify_event(
            organization=tenant.org,
            name=events.TICKET_CREATED,
            ticket_id=ticket.pk,
            actor_user_id=None,
            data={"by_contact": True, "source": "email"},
            now=T0,
        )
        outgoing_send_due(organization=tenant.org, now=T0)


class TableResolver:
    """Answers TXT questions from a table: a list of record values, or an exception to raise.
    A name not in the table does not exist (NXDOMAIN)."""

    def __init__(self, answers: dict):
        self.answers = answers
        self.asked: list[str] = []

    def resolve(self, name, rdtype, lifetime=None):
        assert (rdtype, lifetime is not None) == ("TXT", True)
        self.asked.append(name)
        answer = self.answers.get(name, dns.resolver.NXDOMAIN())
        if isinstance(answer, Exception):
            raise answer
        # Long values come as several character-strings, as DNS serves them.
        return [dns.rdata.from_text("IN", "TXT", _quoted(value)) for value in answer]


def _quoted(value: str) -> str:
    return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))


def use_resolver(monkeypatch, answers: dict) -> TableResolver:
    resolver = TableResolver(answers)
    monkeypatch.setattr(dkim_service, "make_resolver", lambda: resolver)
    return resolver


def text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def check_cells(response) -> dict[str, str]:
    page = response.content.decode()
    cells = re.findall(r'<tr data-kind="(\w+)">.*?<td class="dns-check">(.*?)</td>', page, re.S)
    return {
        kind: " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for kind, cell in cells
    }


def field_errors(response) -> dict[str, str]:
    page = response.content.decode()
    found = re.findall(
        r'<label for="id_(\w+)">.*?(?:<div class="field-error" role="alert">(.*?)</div>|</div>)',
        page,
        re.S,
    )
    return {name: html.unescape(error) for name, error in found if error}


# -- signing -------------------------------------------------------------------------------------


def test_signed_message_verifies_with_the_published_key(acme, smtp_peer):
    connect(acme, smtp_peer)  # From support@acme.test
    key = make_key(acme, domain="acme.test", selector="hd203001")
    assert send_test(acme).ok is True
    [received] = smtp_peer.wait_for(1)
    raw = received.raw
    tags = signature_tags(raw)
    assert (tags["d"], tags["s"], tags["a"], tags["c"]) == (
        "acme.test",
        "hd203001",
        "rsa-sha256",
        "relaxed/relaxed",
    )
    assert dkim.verify(raw, dnsfunc=published(key)) is True
    # Another key under the same name, or a changed subject, does not verify.
    other = make_key(acme, domain="acme.test", selector="hd203002", activate=False)
    impostor = DkimKey(selector=key.selector, domain=key.domain, public_key=other.public_key)
    assert dkim.verify(raw, dnsfunc=published(impostor)) is False
    tampered = raw.replace(b"Subject: Test email from Acme", b"Subject: Test email from Evil")
    assert tampered != raw
    assert dkim.verify(tampered, dnsfunc=published(key)) is False


def test_the_headers_that_say_who_and_what_are_signed(acme, mailer):
    key = make_key(acme, domain="acme.test", selector="hd203001")
    queue_and_send_confirmation(acme)
    received = mailer.wait_for(3)
    [confirmation] = [r for r in received if r.rcpt_tos == ["carol@customer.test"]]
    assert dkim.verify(confirmation.raw, dnsfunc=published(key)) is True
    signed = signature_tags(confirmation.raw)["h"].lower().split(":")
    for name in ("from", "to", "subject", "date", "message-id", "mime-version", "content-type"):
        assert (name, name in signed) == (name, True)
    # From, To and Subject are signed once more: a second copy added on the way breaks it.
    assert [signed.count(name) for name in ("from", "to", "subject")] == [2, 2, 2]
    for message in received:  # the agents' alerts are signed too
        assert dkim.verify(message.raw, dnsfunc=published(key)) is True


def test_a_message_with_a_second_from_added_does_not_verify(acme, smtp_peer):
    connect(acme, smtp_peer)
    key = make_key(acme, domain="acme.test", selector="hd203001")
    send_test(acme)
    [received] = smtp_peer.wait_for(1)
    head, body = received.raw.split(b"\r\n\r\n", 1)
    forged = head + b"\r\nFrom: ceo@acme.test\r\n\r\n" + body
    assert dkim.verify(received.raw, dnsfunc=published(key)) is True
    assert dkim.verify(forged, dnsfunc=published(key)) is False


def test_a_tenant_without_a_key_sends_unsigned(acme, globex, smtp_peer):
    connect(acme, smtp_peer)
    connect(globex, smtp_peer)
    make_key(acme, domain="acme.test", selector="hd203001")
    send_test(globex)
    [received] = smtp_peer.wait_for(1)
    assert (received.message["From"], received.message["DKIM-Signature"]) == (
        "Globex <support@globex.test>",
        None,
    )


def test_another_tenants_key_is_never_used(acme, globex, smtp_peer):
    # globex sends from acme's domain: only acme's own mail may carry acme's signature.
    connect(acme, smtp_peer)
    connect(globex, smtp_peer, from_address="billing@acme.test")
    make_key(acme, domain="acme.test", selector="hd203001")
    make_key(globex, domain="acme.test", selector="gx1", activate=False)  # waiting, not signing
    send_test(globex)
    send_test(acme)
    first, second = smtp_peer.wait_for(2)
    assert (first.message["From"], first.message["DKIM-Signature"]) == (
        "Globex <billing@acme.test>",
        None,
    )
    assert signature_tags(second.raw)["s"] == "hd203001"


def test_a_key_signs_only_mail_from_its_domain_or_below(acme, smtp_peer):
    make_key(acme, domain="acme.test", selector="hd203001")
    connect(acme, smtp_peer, from_address="help@mail.acme.test")
    send_test(acme)
    connect(acme, smtp_peer, from_address="help@notacme.test")
    send_test(acme)
    below, elsewhere = smtp_peer.wait_for(2)
    assert signature_tags(below.raw)["d"] == "acme.test"  # relaxed alignment (DMARC)
    assert elsewhere.message["DKIM-Signature"] is None


def test_mail_through_an_esp_is_left_to_the_esp(acme, settings, smtp_peer):
    settings.DEFAULT_FROM_EMAIL = "Helpdesk <mail@platform.test>"
    key = make_key(acme, domain="platform.test", selector="hd203001")
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    with acme.scope():
        assert delivery.sender_for(acme.org, None).signer is None
    # The platform's own SMTP server: we hand the mail over, so we sign it.
    settings.EMAIL_BACKEND = delivery.PLATFORM_SMTP_BACKEND
    settings.EMAIL_HOST, settings.EMAIL_PORT = smtp_peer.host, smtp_peer.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    send_test(acme, to="admin@acme.test")
    [received] = smtp_peer.wait_for(1)
    assert dkim.verify(received.raw, dnsfunc=published(key)) is True


def test_the_esp_backend_gets_the_message_unsigned(acme, settings, mailoutbox):
    settings.DEFAULT_FROM_EMAIL = "Helpdesk <mail@platform.test>"
    make_key(acme, domain="platform.test", selector="hd203001")
    assert send_test(acme, to="admin@acme.test").ok is True
    [message] = mailoutbox
    assert "DKIM-Signature" not in message.message()


def test_private_key_is_stored_encrypted(acme):
    key = make_key(acme, domain="acme.test", selector="hd203001")
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key FROM outbound_mail_dkimkey")
        [(stored,)] = cursor.fetchall()
    assert stored.startswith("fernet:")
    assert "PRIVATE KEY" not in stored
    with acme.scope():
        assert DkimKey.objects.get(pk=key.pk).private_key.startswith(
            "-----BEGIN RSA PRIVATE KEY-----"
        )


def test_a_key_that_cannot_be_decrypted_sends_unsigned(acme, smtp_peer, settings):
    connect(acme, smtp_peer)
    make_key(acme, domain="acme.test", selector="hd203001")
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()  # the old key was lost
    assert send_test(acme).ok is True
    [received] = smtp_peer.wait_for(1)
    assert received.message["DKIM-Signature"] is None


# -- rotation ------------------------------------------------------------------------------------


def test_rotating_replaces_the_old_key_after_confirmation(acme, smtp_peer):
    connect(acme, smtp_peer)
    old = make_key(acme, domain="acme.test", selector="hd203001")
    client = acme.client(acme.admin)
    response = client.post("/settings/email/dkim/", {"domain": "acme.test", "selector": "hd203002"})
    assert response["Location"] == "/settings/email/dkim/"
    with acme.scope():
        new = DkimKey.objects.get(state=State.PENDING)
    send_test(acme)  # the old key signs until the switch

    asked = client.post("/settings/email/dkim/activate/")
    assert "Replace the key “hd203001” with “hd203002”?" in text(asked)
    with acme.scope():
        assert DkimKey.objects.get(pk=old.pk).state == State.ACTIVE
    send_test(acme)

    done = client.post("/settings/email/dkim/activate/", {"confirm": "1"})
    assert done["Location"] == "/settings/email/dkim/"
    send_test(acme)
    signed = [signature_tags(r.raw)["s"] for r in smtp_peer.wait_for(3)]
    assert signed == ["hd203001", "hd203001", "hd203002"]
    assert dkim.verify(smtp_peer.wait_for(3)[2].raw, dnsfunc=published(new)) is True
    with acme.scope():
        retired = DkimKey.objects.get(pk=old.pk)
        assert (retired.state, retired.private_key, retired.retired_at is None) == (
            State.RETIRED,
            "",
            False,
        )
        assert DkimKey.objects.get(pk=new.pk).state == State.ACTIVE
    page = text(client.get("/settings/email/dkim/"))
    assert "you can remove the record hd203001._domainkey.acme.test" in page


def test_the_first_key_switches_on_without_asking_and_stop_signing_asks(acme, smtp_peer):
    connect(acme, smtp_peer)
    make_key(acme, domain="acme.test", selector="hd203001", activate=False)
    client = acme.client(acme.admin)
    assert client.post("/settings/email/dkim/activate/")["Location"] == "/settings/email/dkim/"
    asked = client.post("/settings/email/dkim/disable/")
    assert "Stop signing mail with the key “hd203001”?" in text(asked)
    with acme.scope():
        assert DkimKey.objects.filter(state=State.ACTIVE).count() == 1
    client.post("/settings/email/dkim/disable/", {"confirm": "1"})
    send_test(acme)
    [received] = smtp_peer.wait_for(1)
    assert received.message["DKIM-Signature"] is None
    # Nothing left to switch on or off: 404, not a 500.
    assert client.post("/settings/email/dkim/activate/", {"confirm": "1"}).status_code == 404
    assert client.post("/settings/email/dkim/disable/", {"confirm": "1"}).status_code == 404


def test_generating_again_replaces_the_waiting_key(acme):
    make_key(acme, domain="acme.test", selector="hd203001", activate=False)
    client = acme.client(acme.admin)
    client.post("/settings/email/dkim/", {"domain": "acme.test", "selector": "hd203001"})
    with acme.scope():
        assert list(DkimKey.objects.values_list("selector", "state")) == [("hd203001", "pending")]


# -- the settings page ---------------------------------------------------------------------------


def test_the_page_is_for_admins_of_this_tenant_only(acme, globex):
    make_key(globex, domain="globex.test", selector="gx1")
    assert acme.client(acme.agent).get("/settings/email/dkim/").status_code == 404
    assert acme.client().get("/settings/email/dkim/")["Location"].startswith("/login/")
    for url in ("/settings/email/dkim/check/", "/settings/email/dkim/activate/"):
        assert acme.client(acme.agent).post(url, {"key": "1", "confirm": "1"}).status_code == 404
    page = acme.client(acme.admin).get("/settings/email/dkim/")
    assert (page.status_code, "gx1" in page.content.decode()) == (200, False)


def test_the_page_shows_the_records_to_publish(acme, smtp_peer):
    connect(acme, smtp_peer)
    key = make_key(acme, domain="acme.test", selector="hd203001")
    response = acme.client(acme.admin).get("/settings/email/dkim/")
    page = html.unescape(response.content.decode())
    value = f"v=DKIM1; k=rsa; p={key.public_key}"
    assert "hd203001._domainkey.acme.test" in page
    assert value in page
    chunks = re.search(
        r"As (\d+) strings of at most 255 characters</summary><code>(.*?)</code>", page
    )
    strings = re.findall(r'"([^"]*)"', chunks.group(2))
    assert (int(chunks.group(1)), "".join(strings)) == (len(strings), value)
    assert [len(s) <= 255 for s in strings] == [True] * len(strings)
    assert f"v=spf1 a:{smtp_peer.host} mx ~all" in page
    assert "_dmarc.acme.test" in page
    assert "v=DMARC1; p=none; rua=mailto:dmarc-reports@acme.test" in page
    with acme.scope():
        assert DkimKey.objects.get().private_key.splitlines()[1] not in page


def test_the_form_proposes_the_from_domain_and_a_dated_selector(acme, smtp_peer):
    connect(acme, smtp_peer, from_address="help@acme.test")
    this_month = f"hd{timezone.now():%Y%m}"
    make_key(acme, domain="acme.test", selector=this_month)  # taken: the next one is "b"
    page = acme.client(acme.admin).get("/settings/email/dkim/").content.decode()
    assert re.search(r'name="domain" value="acme.test"', page) is not None
    assert re.search(rf'name="selector" value="{this_month}b"', page) is not None


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        (
            {"domain": "not a domain", "selector": "hd1"},
            {"domain": "Enter a domain name such as example.com."},
        ),
        (
            {"domain": "other.test", "selector": "hd1"},
            {
                "domain": "Mail goes out from acme.test: receivers only count a signature of "
                "that domain or one above it (DMARC)."
            },
        ),
        (
            {"domain": "acme.test", "selector": "bad selector!"},
            {
                "selector": "Use letters, digits and hyphens (a dot between parts), "
                "such as hd203001."
            },
        ),
        (
            {"domain": "acme.test", "selector": "HD203001"},
            {
                "selector": "An earlier key of this domain has this selector: choose a new one, "
                "so that both records can be published while mail signed with the old key arrives."
            },
        ),
        (
            {"domain": "", "selector": ""},
            {"domain": "This field is required.", "selector": "This field is required."},
        ),
    ],
)
def test_bad_input_gets_a_message_beside_the_field(acme, smtp_peer, form, errors):
    connect(acme, smtp_peer)
    make_key(acme, domain="acme.test", selector="hd203001")
    response = acme.client(acme.admin).post("/settings/email/dkim/", form)
    assert (response.status_code, field_errors(response)) == (400, errors)
    with acme.scope():
        assert DkimKey.objects.count() == 1


def test_generating_makes_a_waiting_2048_bit_key(acme, smtp_peer):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    connect(acme, smtp_peer, from_address="help@Mail.Acme.test")
    client = acme.client(acme.admin)
    client.post("/settings/email/dkim/", {"domain": "acme.TEST.", "selector": "Sel-1"})
    with acme.scope():
        key = DkimKey.objects.get()
    assert (key.domain, key.selector, key.state, key.created_by) == (
        "acme.test",
        "sel-1",
        State.PENDING,
        acme.admin,
    )
    assert load_pem_private_key(key.private_key.encode(), None).key_size == 2048


def test_the_page_keeps_its_query_count_with_many_old_keys(acme, smtp_peer):
    connect(acme, smtp_peer)
    client = acme.client(acme.admin)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/settings/email/dkim/").status_code == 200
        return len(queries)

    make_key(acme, domain="acme.test", selector="k0")
    count()  # the first request of a session records it
    one = count()
    for n in range(1, 30):
        make_key(acme, domain="acme.test", selector=f"k{n}")
    assert count() == one


# -- Check DNS -----------------------------------------------------------------------------------


def _good_answers(key: DkimKey, host: str) -> dict:
    return {
        f"{key.selector}._domainkey.acme.test": [f"v=DKIM1; k=rsa; p={key.public_key}"],
        "acme.test": ["google-site-verification=x", f"v=spf1 a:{host} mx ~all"],
        "_dmarc.acme.test": ["v=DMARC1; p=none"],
    }


def test_check_dns_finds_the_published_records(acme, smtp_peer, monkeypatch):
    connect(acme, smtp_peer)
    key = make_key(acme, domain="acme.test", selector="hd203001")
    use_resolver(monkeypatch, _good_answers(key, smtp_peer.host))
    response = acme.client(acme.admin).post("/settings/email/dkim/check/", {"key": key.pk})
    assert response.status_code == 200
    assert check_cells(response) == {
        "DKIM": "Found The published key is this key.",
        "SPF": f"Found Published: “v=spf1 a:{smtp_peer.host} mx ~all”.",
        "DMARC": "Found Published at _dmarc.acme.test: “v=DMARC1; p=none”.",
    }


def test_check_dns_says_what_does_not_match(acme, smtp_peer, monkeypatch):
    connect(acme, smtp_peer)
    key = make_key(acme, domain="acme.test", selector="hd203001")
    other = dkim_keys.generate_key_pair().public_b64
    use_resolver(
        monkeypatch,
        {
            "hd203001._domainkey.acme.test": [f"v=DKIM1; k=rsa; p={other}"],
            "acme.test": ["v=spf1 include:_spf.example.net -all"],
            "_dmarc.acme.test": ["v=DMARC1; p=none", "v=DMARC1; p=reject"],
        },
    )
    response = acme.client(acme.admin).post("/settings/email/dkim/check/", {"key": key.pk})
    assert check_cells(response) == {
        "DKIM": "Does not match The record holds another key: publish the value shown.",
        "SPF": "Does not match Published: “v=spf1 include:_spf.example.net -all”. It does not "
        f"name a:{smtp_peer.host}: fine if one of its other mechanisms covers that server, "
        "otherwise add it.",
        "DMARC": "Does not match 2 DMARC records at _dmarc.acme.test: keep one.",
    }


def test_check_dns_reports_missing_records_and_two_spf_records(acme, smtp_peer, monkeypatch):
    connect(acme, smtp_peer, from_address="help@mail.acme.test")
    key = make_key(acme, domain="acme.test", selector="hd203001")
    resolver = use_resolver(
        monkeypatch,
        {
            "hd203001._domainkey.acme.test": dns.resolver.NoAnswer(),
            "mail.acme.test": ["v=spf1 mx -all", "v=spf1 a -all"],
            # the organizational domain's DMARC record covers the subdomain
            "_dmarc.acme.test": ["v=DMARC1; p=quarantine"],
        },
    )
    response = acme.client(acme.admin).post("/settings/email/dkim/check/", {"key": key.pk})
    assert check_cells(response) == {
        "DKIM": "Not found No TXT record at hd203001._domainkey.acme.test.",
        "SPF": "Does not match 2 SPF records: receivers treat more than one as an error "
        "(RFC 7208 3.2). Merge them into one.",
        "DMARC": "Found Published at _dmarc.acme.test: “v=DMARC1; p=quarantine”.",
    }
    assert resolver.asked == [
        "hd203001._domainkey.acme.test",
        "mail.acme.test",
        "_dmarc.mail.acme.test",
        "_dmarc.acme.test",
    ]


def test_check_dns_nxdomain_is_not_found(acme, smtp_peer, monkeypatch):
    connect(acme, smtp_peer)
    key = make_key(acme, domain="acme.test", selector="hd203001")
    use_resolver(monkeypatch, {})
    response = acme.client(acme.admin).post("/settings/email/dkim/check/", {"key": key.pk})
    assert check_cells(response) == {
        "DKIM": "Not found No TXT record at hd203001._domainkey.acme.test.",
        "SPF": "Not found No SPF record (v=spf1) at acme.test.",
        "DMARC": "Not found No DMARC record (v=DMARC1) at _dmarc.acme.test.",
    }


@pytest.mark.parametrize(
    "failure",
    [
        dns.resolver.LifetimeTimeout(timeout=3.0, errors=[]),
        dns.resolver.NoNameservers(),
        dns.exception.Timeout(),
        ConnectionRefusedError("refused"),
    ],
    ids=["timeout", "no-nameservers", "bare-timeout", "socket"],
)
def test_check_dns_unreachable_is_an_answer_not_a_500(acme, smtp_peer, monkeypatch, failure):
    connect(acme, smtp_peer)
    key = make_key(acme, domain="acme.test", selector="hd203001")
    answers = _good_answers(key, smtp_peer.host)
    answers["hd203001._domainkey.acme.test"] = failure
    use_resolver(monkeypatch, answers)
    response = acme.client(acme.admin).post("/settings/email/dkim/check/", {"key": key.pk})
    cells = check_cells(response)
    assert (response.status_code, cells["DKIM"].split(" No answer")[0], cells["SPF"][:5]) == (
        200,
        "DNS could not be reached",
        "Found",
    )


def test_check_dns_without_a_resolver_configuration(acme, smtp_peer, monkeypatch):
    connect(acme, smtp_peer)
    key = make_key(acme, domain="acme.test", selector="hd203001")

    def no_configuration():
        raise dns.resolver.NoResolverConfiguration("no nameservers")

    monkeypatch.setattr(dkim_service, "make_resolver", no_configuration)
    response = acme.client(acme.admin).post("/settings/email/dkim/check/", {"key": key.pk})
    assert {k: v.split(" No DNS")[0] for k, v in check_cells(response).items()} == dict.fromkeys(
        ("DKIM", "SPF", "DMARC"), "DNS could not be reached"
    )


def test_check_dns_of_another_tenants_key_is_a_404(acme, globex, monkeypatch):
    theirs = make_key(globex, domain="globex.test", selector="gx1")
    resolver = use_resolver(monkeypatch, {})
    client = acme.client(acme.admin)
    for key in (theirs.pk, "junk", ""):
        assert client.post("/settings/email/dkim/check/", {"key": key}).status_code == 404
    assert resolver.asked == []


def test_the_email_page_links_the_dkim_page_and_says_whether_mail_is_signed(acme):
    client = acme.client(acme.admin)
    assert "Not set up: mail goes out without your domain's DKIM signature." in text(
        client.get("/settings/email/")
    )
    make_key(acme, domain="acme.test", selector="hd203001")
    page = client.get("/settings/email/").content.decode()
    assert 'href="/settings/email/dkim/"' in page
    assert "signed with the key “hd203001”" in html.unescape(page)


# -- in a real browser ---------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_sets_up_and_rotates_a_key_in_the_browser(
    live_server, acme, smtp_peer, browser_page, monkeypatch
):
    from tests.browser import ARTIFACTS, axe_violations

    connect(acme, smtp_peer)
    old = make_key(acme, domain="acme.test", selector="old1")
    resolver = use_resolver(monkeypatch, {})
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())  # data-confirm asks with window.confirm
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page.goto(f"{base}/login/")
    page.fill("#id_username", "admin@acme.test")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.goto(f"{base}/settings/email/")
    page.click("text=DKIM key and DNS records (SPF, DMARC)")
    page.fill("#id_selector", "new1")
    page.click("button:has-text('Generate a new key')")
    page.wait_for_selector("text=New key “new1”")
    with acme.scope():
        new = DkimKey.objects.get(state=State.PENDING)
    resolver.answers.update(_good_answers(new, smtp_peer.host))
    page.click(f"#records-{new.pk} + form button:has-text('Check DNS')")
    page.wait_for_selector(f"#records-{new.pk} tr[data-kind=DKIM] .badge-ok")
    assert page.inner_text(f"#records-{new.pk} tr[data-kind=DKIM] .dns-check") == (
        "Found The published key is this key."
    )
    assert axe_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "outbound-dkim.png"), full_page=True)
    page.click("button:has-text('Replace the key with “new1”')")
    page.wait_for_selector("text=Signing with “new1”")
    with acme.scope():
        assert dict(DkimKey.objects.values_list("selector", "state")) == {
            old.selector: State.RETIRED,
            "new1": State.ACTIVE,
        }
