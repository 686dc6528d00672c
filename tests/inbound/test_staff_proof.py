"""Staff privileges by mail need proof that the agent sent it (issue 9, hole 1).

A From: header naming an agent proves nothing: every customer on a ticket holds its reply
token and our Message-IDs. Proof is the agent's own token (only mail sent to that agent carries
it), a DKIM signature of the agent's domain, or DMARC pass recorded by a receiving host the
tenant trusts. Without it the mail is an internal note marked "unverified sender", nothing is
resolved or forwarded, and the agent is told by mail.
"""

import base64

import dkim
import pytest

from inbound_mail import selectors, staff_proof
from inbound_mail.services import sender_trust
from tenants import services as tenant_services
from tenants.models import Membership
from tests.inbound.mails import mail
from tickets import mail_tokens
from tickets.models import Comment, Ticket

FORGED_SUBJECT = "Re: Printer on fire [CLOSED]"


def _ticket(acme, pk) -> Ticket:
    with acme.scope():
        return Ticket.objects.select_related("status").get(pk=pk)


def _notices(acme) -> list[tuple[str, str]]:
    from outbound_mail.models import OutgoingMessage

    with acme.scope():
        rows = OutgoingMessage.objects.filter(kind="staff_mail_unverified").order_by("id")
        return [(r.to_address, r.subject) for r in rows]


@pytest.fixture
def opened(support, deliver):
    acme, _ = support
    [first] = deliver(mail())
    return acme, first


def test_forged_agent_with_customer_token_is_an_unverified_internal_note(opened, deliver):
    acme, first = opened
    ours = mail_tokens.make_message_id(acme.org.pk, first.ticket_id)
    raw = mail(sender=acme.agent.email, subject=FORGED_SUBJECT, body="Fixed.", in_reply_to=ours)
    [reply] = deliver(raw)
    comment = reply.comment
    with acme.scope():
        author = Comment.objects.select_related("author_contact").get(pk=comment.pk)
    assert (comment.is_public, comment.author_user_id) == (False, None)
    assert author.author_contact.email == "agent@acme.test"
    assert comment.body_text.splitlines()[0] == (
        "Unverified sender: this mail names agent@acme.test in From:, but nothing proves the "
        "agent sent it. It was kept as an internal note; [CLOSED] and other markers were ignored."
    )
    assert _ticket(acme, first.ticket_id).status.name == "New"
    assert reply.reason == "unverified staff mail kept as an internal note on #1 by token"
    assert _notices(acme) == [("agent@acme.test", "Mail in your name could not be verified [#1]")]


def test_forged_agent_private_marker_is_ignored(opened, deliver):
    acme, first = opened
    ours = mail_tokens.make_message_id(acme.org.pk, first.ticket_id)
    raw = mail(
        sender=acme.agent.email, subject="Re: Printer [PVT]", body="Secret.", in_reply_to=ours
    )
    [reply] = deliver(raw)
    assert (reply.comment.is_public, reply.comment.body_text.splitlines()[-1]) == (False, "Secret.")
    assert reply.comment.body_text.startswith("Unverified sender:")
    assert _notices(acme) == [("agent@acme.test", "Mail in your name could not be verified [#1]")]


def test_forged_agent_forward_opens_no_ticket_for_the_forwarded_sender(support, deliver):
    acme, _ = support
    raw = mail(sender=acme.agent.email, subject="Fwd: Cannot log in", body=GMAIL_FORWARD)
    [row] = deliver(raw)
    with acme.scope():
        requester = Ticket.objects.select_related("requester").get(pk=row.ticket_id).requester
    assert requester.email == "agent@acme.test"
    assert row.reason == (
        "new ticket; the sender names staff but is unverified: not forwarded as staff"
    )
    assert _notices(acme) == [("agent@acme.test", "Mail in your name could not be verified [#1]")]


def test_forged_agent_subject_tag_writes_nothing_on_a_ticket_they_are_not_on(opened, deliver):
    acme, first = opened
    raw = mail(sender=acme.agent.email, subject="Printer [#1] [CLOSED]", body="Injected.")
    [row] = deliver(raw)
    assert row.ticket_id != first.ticket_id
    with acme.scope():
        on_first = Comment.objects.filter(ticket_id=first.ticket_id).count()
        opened_for = Ticket.objects.select_related("requester").get(pk=row.ticket_id)
    assert (on_first, opened_for.requester.email) == (1, "agent@acme.test")
    assert _ticket(acme, first.ticket_id).status.name == "New"


GMAIL_FORWARD = """FYI, please help her.

---------- Forwarded message ---------
From: Dana Doe <dana@customer.test>
Date: Mon, 3 Mar 2025 at 10:00
Subject: Cannot log in
To: Acme Agent <agent@acme.test>

I cannot log in since this morning.
"""


# -- proof 1: the agent's own token ---------------------------------------------------------


def test_agent_reply_with_own_token_in_references_is_public_and_closes(opened, deliver):
    acme, first = opened
    theirs = mail_tokens.make_staff_message_id(acme.org.pk, first.ticket_id, acme.agent.pk)
    raw = mail(
        sender=acme.agent.email,
        subject=FORGED_SUBJECT,
        body="Fixed.",
        in_reply_to=first.message_id,
        references=[first.message_id, theirs],
    )
    [reply] = deliver(raw)
    assert (reply.comment.is_public, reply.comment.author_user_id) == (True, acme.agent.pk)
    assert reply.comment.body_text == "Fixed."
    assert _ticket(acme, first.ticket_id).status.name == "Resolved"
    assert reply.reason == "staff public reply on #1 by token, resolved; sender proven by token"
    assert _notices(acme) == []


def test_agent_reply_to_own_plus_address_is_public(opened, deliver):
    acme, first = opened
    tag = mail_tokens.make_staff_tag(acme.org.pk, first.ticket_id, acme.agent.pk)
    raw = mail(sender=acme.agent.email, to=f"support+{tag}@acme.test", body="On it.")
    [reply] = deliver(raw)
    assert (reply.comment.is_public, reply.comment.author_user_id) == (True, acme.agent.pk)
    assert reply.reason == "staff public reply on #1 by token; sender proven by token"


def test_token_of_agent_a_does_not_prove_agent_b(opened, deliver):
    acme, first = opened
    with acme.scope():
        other = tenant_services.user_get_or_create(email="bob@acme.test", password="pw")
        tenant_services.membership_add(organization=acme.org, user=other, role=Membership.AGENT)
    # Agent A's token, in mail that names agent B: whoever holds A's mail is not B.
    theirs = mail_tokens.make_staff_message_id(acme.org.pk, first.ticket_id, acme.agent.pk)
    raw = mail(sender="bob@acme.test", subject=FORGED_SUBJECT, body="Done.", in_reply_to=theirs)
    [reply] = deliver(raw)
    assert reply.comment.is_public is False
    assert reply.comment.body_text.startswith("Unverified sender: this mail names bob@acme.test")
    assert _ticket(acme, first.ticket_id).status.name == "New"
    assert _notices(acme) == [("bob@acme.test", "Mail in your name could not be verified [#1]")]


def test_agent_token_of_another_ticket_proves_nothing_here(support, deliver):
    acme, _ = support
    [first] = deliver(mail())
    [second] = deliver(mail(subject="Another thing"))
    ours = mail_tokens.make_message_id(acme.org.pk, second.ticket_id)
    elsewhere = mail_tokens.make_staff_message_id(acme.org.pk, first.ticket_id, acme.agent.pk)
    raw = mail(
        sender=acme.agent.email, subject="Re: x [CLOSED]", in_reply_to=ours, references=[elsewhere]
    )
    [reply] = deliver(raw)
    assert (reply.ticket_id, reply.comment.is_public) == (second.ticket_id, False)


def test_mail_to_an_agent_carries_their_token_and_their_reply_proves_them(opened, deliver):
    """The round trip: the new-ticket alert to the agent, and the agent answering it."""
    from outbound_mail.kinds import Kind
    from outbound_mail.models import OutgoingMessage

    acme, first = opened
    with acme.scope():
        alert = OutgoingMessage.objects.get(kind=Kind.NEW_TICKET_ALERT, user=acme.agent)
        confirmation = OutgoingMessage.objects.get(kind=Kind.NEW_TICKET_CONFIRMATION)
    tag = mail_tokens.make_token(acme.org.pk, first.ticket_id)
    assert alert.headers["Reply-To"].startswith(f"support+{tag}.s")
    assert mail_tokens.parse_staff_token(alert.headers["Reply-To"].partition("@")[0]) == (
        acme.org.pk,
        first.ticket_id,
        acme.agent.pk,
    )
    assert mail_tokens.staff_from_message_id(alert.message_id) == (
        acme.org.pk,
        first.ticket_id,
        acme.agent.pk,
    )
    # What the customer holds carries no agent's token.
    assert mail_tokens.staff_from_message_id(confirmation.message_id) is None
    assert mail_tokens.parse_staff_token(confirmation.headers["Reply-To"]) is None
    raw = mail(
        sender=acme.agent.email,
        to=alert.headers["Reply-To"],
        subject=f"Re: {alert.subject} [CLOSED]",
        body="Sorted, closing.",
        in_reply_to=alert.message_id,
        references=[first.message_id, alert.message_id],
    )
    [reply] = deliver(raw)
    assert (reply.comment.is_public, reply.comment.author_user_id) == (True, acme.agent.pk)
    assert _ticket(acme, first.ticket_id).status.name == "Resolved"


# -- proof 3: DKIM ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dkim_key():
    """A throwaway RSA key: (private key PEM, the TXT record that publishes it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


@pytest.fixture(autouse=True)
def dns(monkeypatch, dkim_key):
    """Key lookups answered here, never on the network: the throwaway key for sel._domainkey
    of acme.test and of evil.test; every lookup is recorded."""
    asked = []
    records = {
        b"sel._domainkey.acme.test.": dkim_key[1],
        b"sel._domainkey.evil.test.": dkim_key[1],
    }

    def txt(name, timeout=5):
        asked.append(name)
        return records.get(name)

    monkeypatch.setattr(staff_proof, "dns_txt", txt)
    return asked


def _signed(raw: bytes, pem: bytes, domain: bytes = b"acme.test") -> bytes:
    headers = [b"from", b"to", b"subject", b"date", b"message-id", b"in-reply-to"]
    signature = dkim.sign(raw, b"sel", domain, pem, include_headers=headers)
    return signature + raw


def _customer_reply(acme, first, **overrides) -> bytes:
    ours = mail_tokens.make_message_id(acme.org.pk, first.ticket_id)
    values = {
        "sender": acme.agent.email,
        "subject": FORGED_SUBJECT,
        "body": "Fixed.",
        "in_reply_to": ours,
        **overrides,
    }
    return mail(**values)


def test_dkim_signed_by_the_agents_domain_proves_the_agent(opened, deliver, dkim_key, dns):
    acme, first = opened
    [reply] = deliver(_signed(_customer_reply(acme, first), dkim_key[0]))
    assert (reply.comment.is_public, reply.comment.author_user_id) == (True, acme.agent.pk)
    assert _ticket(acme, first.ticket_id).status.name == "Resolved"
    assert reply.reason == "staff public reply on #1 by token, resolved; sender proven by dkim"
    assert dns == [b"sel._domainkey.acme.test."]


def test_dkim_signature_of_another_domain_proves_nothing(opened, deliver, dkim_key):
    acme, first = opened
    [reply] = deliver(_signed(_customer_reply(acme, first), dkim_key[0], domain=b"evil.test"))
    assert reply.comment.is_public is False
    assert _ticket(acme, first.ticket_id).status.name == "New"


def test_dkim_body_altered_after_signing_proves_nothing(opened, deliver, dkim_key):
    acme, first = opened
    signed = _signed(_customer_reply(acme, first, body="Will look."), dkim_key[0])
    altered = signed.replace(b"Will look.", b"Fixed.")
    assert altered != signed
    [reply] = deliver(altered)
    assert reply.comment.is_public is False
    assert _ticket(acme, first.ticket_id).status.name == "New"


def test_dkim_with_an_unsigned_added_thread_header_proves_nothing(opened, deliver, dkim_key):
    """A genuine signed mail cannot be re-threaded by prepending another In-Reply-To."""
    acme, first = opened
    signed = _signed(mail(sender=acme.agent.email, subject="[CLOSED] done"), dkim_key[0])
    ours = mail_tokens.make_message_id(acme.org.pk, first.ticket_id)
    [reply] = deliver(f"In-Reply-To: <{ours}>\n".encode() + signed)
    assert (reply.ticket_id, reply.comment.is_public) == (first.ticket_id, False)
    assert _ticket(acme, first.ticket_id).status.name == "New"


def test_forward_signed_by_the_agents_domain_opens_for_the_forwarded_sender(
    support, deliver, dkim_key
):
    acme, _ = support
    raw = mail(sender=acme.agent.email, subject="Fwd: Cannot log in", body=GMAIL_FORWARD)
    [row] = deliver(_signed(raw, dkim_key[0]))
    assert row.reason == "new ticket for dana@customer.test, forwarded by staff"
    assert _notices(acme) == []


# -- proof 2: DMARC recorded by a trusted receiving host ---------------------------------------


def _trust(acme, *hosts):
    with acme.scope():
        sender_trust.trusted_hosts_save(organization=acme.org, hosts=list(hosts))


def _with_results(raw: bytes, *values: str) -> bytes:
    return b"".join(f"Authentication-Results: {v}\n".encode() for v in values) + raw


PASS = (
    "mx.trusted.test; spf=pass smtp.mailfrom=acme.test; dmarc=pass (p=none) header.from=acme.test"
)


def test_dmarc_pass_from_a_trusted_host_proves_the_agent(opened, deliver):
    acme, first = opened
    _trust(acme, "MX.Trusted.test")
    [reply] = deliver(_with_results(_customer_reply(acme, first), PASS))
    assert (reply.comment.is_public, reply.comment.author_user_id) == (True, acme.agent.pk)
    assert _ticket(acme, first.ticket_id).status.name == "Resolved"
    assert reply.reason.endswith("; sender proven by dmarc")


@pytest.mark.parametrize(
    "results",
    [
        # Nobody is trusted by default, whoever claims to have checked.
        [PASS],
        # A host the tenant did not mark trusted.
        [PASS.replace("mx.trusted.test", "mx.other.test")],
        # The trusted host said fail; the pass below it came with the message.
        ["mx.trusted.test; dmarc=fail header.from=acme.test", PASS],
        # Topmost is an untrusted host: a "trusted" header below it is the sender's own.
        ["mx.other.test; dmarc=none", PASS],
        # DMARC pass, but for another domain than the agent's.
        ["mx.trusted.test; dmarc=pass header.from=evil.test"],
    ],
)
def test_dmarc_without_a_trusted_pass_for_the_agents_domain_proves_nothing(
    opened, deliver, results
):
    acme, first = opened
    if results != [PASS]:
        _trust(acme, "mx.trusted.test")
    [reply] = deliver(_with_results(_customer_reply(acme, first), *results))
    assert reply.comment.is_public is False
    assert _ticket(acme, first.ticket_id).status.name == "New"


def test_trusted_hosts_of_one_tenant_do_not_count_for_another(support, deliver):
    acme, globex = support
    _trust(acme, "mx.trusted.test")
    [first] = deliver(mail(to="help@globex.test"))
    ours = mail_tokens.make_message_id(globex.org.pk, first.ticket_id)
    raw = mail(
        sender=globex.agent.email,
        to="help@globex.test",
        subject=FORGED_SUBJECT,
        in_reply_to=ours,
    )
    [reply] = deliver(_with_results(raw, PASS.replace("acme.test", "globex.test")))
    assert reply.comment.is_public is False


# -- the setting ---------------------------------------------------------------------------


def test_trusted_hosts_setting_saves_and_shows(support):
    acme, globex = support
    client = acme.client(acme.admin)
    response = client.post(
        "/settings/mail/spam/trusted-hosts/",
        {"hosts": "MX.Google.com\nmx.google.com\ninbound.test."},
    )
    assert response.status_code == 302
    with acme.scope():
        assert selectors.trusted_authserv_ids() == ["mx.google.com", "inbound.test"]
    with globex.scope():
        assert selectors.trusted_authserv_ids() == []
    page = client.get("/settings/mail/spam/").content.decode()
    assert "mx.google.com\ninbound.test</textarea>" in page
    assert "Trusted receiving hosts" in page


def test_trusted_hosts_setting_refuses_what_is_not_a_host(support):
    acme, _ = support
    client = acme.client(acme.admin)
    response = client.post("/settings/mail/spam/trusted-hosts/", {"hosts": "mx.google.com\n<b>;x"})
    assert response.status_code == 400
    assert "is not a host name such as mx.example.com." in response.content.decode()
    with acme.scope():
        assert selectors.trusted_authserv_ids() == []


def test_trusted_hosts_setting_is_for_admins(support):
    acme, _ = support
    response = acme.client(acme.agent).post(
        "/settings/mail/spam/trusted-hosts/", {"hosts": "mx.google.com"}
    )
    assert response.status_code in (302, 403, 404)
    with acme.scope():
        assert selectors.trusted_authserv_ids() == []


def test_unverified_note_shows_its_label_on_the_ticket_page(opened, deliver):
    acme, first = opened
    ours = mail_tokens.make_message_id(acme.org.pk, first.ticket_id)
    deliver(mail(sender=acme.agent.email, subject=FORGED_SUBJECT, body="Fixed.", in_reply_to=ours))
    page = acme.client(acme.agent).get("/agent/tickets/1/").content.decode()
    assert page.count("Unverified sender: this mail names agent@acme.test in From:") == 1
