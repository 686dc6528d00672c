"""The mailgate door: bin/helpdesk-mailgate posting piped mail to /inbound/mailgate/ on the
platform host, end to end against the live server (exit 0 stored, 75 anything else), and the
endpoint's answers through the test client."""

import socket
import subprocess
from pathlib import Path

import pytest
from django.test import Client
from django_scopes import scopes_disabled

from inbound_mail import raw_mail
from inbound_mail.models import InboundAddress, InboundMessage, UnclaimedMessage
from tests.inbound.mails import mail
from tickets.models import Ticket

MAILGATE = Path(__file__).resolve().parents[2] / "bin" / "helpdesk-mailgate"
SECRET = "mailgate-shared-secret-for-tests"
EX_TEMPFAIL = 75


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.MAILGATE_SECRET = SECRET


@pytest.fixture
def addresses(acme, globex):
    for tenant, address in ((acme, "support@acme.test"), (globex, "help@globex.test")):
        with tenant.scope():
            InboundAddress.objects.create(organization=tenant.org, address=address, is_default=True)
    return acme, globex


def _rows() -> list[tuple[int, str, list[str], str]]:
    with scopes_disabled():  # the test checks where the rows of both tenants landed
        rows = InboundMessage.objects.order_by("organization_id")
        return [(r.organization_id, r.source, r.envelope_recipients, r.sha256) for r in rows]


def run_mailgate(raw: bytes, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(MAILGATE), *args],
        input=raw,
        capture_output=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env or {})},  # as an MTA's pipe runs it
        check=False,
    )


def _secret_file(tmp_path: Path, secret: str = SECRET) -> str:
    path = tmp_path / "mailgate-secret"
    path.write_text(secret + "\n")
    return str(path)


def _url(live_server) -> str:
    return f"{live_server.url}/inbound/mailgate/"  # http://localhost:port: the platform host


@pytest.mark.django_db(transaction=True)
def test_mailgate_stores_through_the_web_and_exits_0(addresses, live_server, tmp_path):
    acme, globex = addresses
    raw = mail(to="someone@customer.test", subject="Piped")
    done = run_mailgate(
        raw,
        "--url",
        _url(live_server),
        "--secret-file",
        _secret_file(tmp_path),
        "--recipient=help@globex.test",
    )
    assert (done.returncode, done.stderr) == (0, b"")
    assert _rows() == [(globex.org.pk, "mailgate", ["help@globex.test"], raw_mail.digest(raw))]
    with globex.scope():
        assert list(Ticket.objects.values_list("subject", flat=True)) == ["Piped"]
    with acme.scope():
        assert Ticket.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_mailgate_secret_from_the_environment(addresses, live_server):
    acme, _ = addresses
    raw = mail(subject="Env secret")
    done = run_mailgate(
        raw, env={"HELPDESK_MAILGATE_URL": _url(live_server), "HELPDESK_MAILGATE_SECRET": SECRET}
    )
    assert done.returncode == 0, done.stderr
    assert [(org, source) for org, source, _, _ in _rows()] == [(acme.org.pk, "mailgate")]


@pytest.mark.django_db(transaction=True)
def test_mailgate_wrong_secret_exits_75_and_stores_nothing(addresses, live_server, tmp_path):
    done = run_mailgate(
        mail(), "--url", _url(live_server), "--secret-file", _secret_file(tmp_path, "guess")
    )
    assert done.returncode == EX_TEMPFAIL
    assert b"answered 401" in done.stderr
    assert _rows() == []


@pytest.mark.django_db(transaction=True)
def test_mailgate_unconfigured_server_exits_75(addresses, live_server, tmp_path, settings):
    settings.MAILGATE_SECRET = ""
    done = run_mailgate(mail(), "--url", _url(live_server), "--secret-file", _secret_file(tmp_path))
    assert done.returncode == EX_TEMPFAIL
    assert b"answered 503" in done.stderr
    assert _rows() == []


def test_mailgate_unreachable_server_exits_75(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://localhost:{port}/inbound/mailgate/"
    done = run_mailgate(mail(), "--url", url, "--secret-file", _secret_file(tmp_path))
    assert done.returncode == EX_TEMPFAIL
    assert b"not delivered, try again later" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],  # no URL, no secret
        ["--url", "http://localhost/inbound/mailgate/"],  # no secret
        ["--url", "ftp://localhost/", "--secret-file", "/nonexistent/secret"],
        ["--bogus"],
    ],
)
def test_mailgate_bad_configuration_exits_75(args):
    done = run_mailgate(mail(), *args)
    assert done.returncode == EX_TEMPFAIL
    assert done.stderr.startswith(b"helpdesk-mailgate: not delivered, try again later: ")


# -- the endpoint, through the test client ---------------------------------------------------


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    def _post(raw: bytes, *, token: str | None = SECRET, query: str = "", host="localhost"):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
        client = Client(HTTP_HOST=host)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/inbound/mailgate/{query}", raw, content_type="message/rfc822", **headers
            )

    return _post


def test_endpoint_stores_and_answers_200(addresses, post):
    acme, globex = addresses
    raw = mail(to="support@acme.test", subject="Posted")
    response = post(raw, query="?recipient=support@acme.test&recipient=help@globex.test")
    assert (response.status_code, response.content) == (
        200,
        f"stored {raw_mail.digest(raw)}\n".encode(),
    )
    recipients = ["support@acme.test", "help@globex.test"]
    assert _rows() == [
        (acme.org.pk, "mailgate", recipients, raw_mail.digest(raw)),
        (globex.org.pk, "mailgate", recipients, raw_mail.digest(raw)),
    ]
    assert raw_mail.read(raw_mail.digest(raw)) == raw


def test_endpoint_keeps_unclaimed_mail(addresses, post):
    response = post(mail(to="nobody@elsewhere.test"))
    assert response.status_code == 200
    assert b"platform quarantine" in response.content
    assert list(UnclaimedMessage.objects.values_list("source", flat=True)) == ["mailgate"]


@pytest.mark.parametrize("token", [None, "", "wrong", SECRET + "x", SECRET[:-1]])
def test_endpoint_refuses_a_wrong_secret_with_401(addresses, post, token):
    response = post(mail(), token=token)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="mailgate"'
    assert _rows() == []


def test_endpoint_refuses_basic_auth_with_the_secret(addresses):
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {SECRET}")
    response = client.post("/inbound/mailgate/", mail(), content_type="message/rfc822")
    assert response.status_code == 401


def test_endpoint_unset_secret_is_503(addresses, post, settings):
    settings.MAILGATE_SECRET = ""
    for token in (SECRET, "", None):
        assert post(mail(), token=token).status_code == 503
    assert _rows() == []


def test_endpoint_empty_and_oversized_and_too_many_recipients(addresses, post, settings):
    assert post(b"").status_code == 400
    settings.INBOUND_MAX_BYTES = 1000
    assert post(mail(body="x" * 2500)).status_code == 413
    assert post(mail(body="x" * 1500)).status_code == 200  # over the limit: kept, quarantined
    many = "?" + "&".join(f"recipient=r{i}@acme.test" for i in range(101))
    assert post(mail(), query=many).status_code == 400
    assert [row[1] for row in _rows()] == ["mailgate"]
    with scopes_disabled():  # the one row stored, whichever tenant
        assert list(InboundMessage.objects.values_list("status", flat=True)) == ["quarantined"]


def test_endpoint_large_message_over_djangos_upload_limit_is_stored(addresses, post, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # request.body would refuse this
    raw = mail(body="y" * 5000)
    assert post(raw).status_code == 200
    assert raw_mail.read(raw_mail.digest(raw)) == raw


def test_endpoint_only_on_the_platform_host_and_only_post(addresses, post):
    assert post(mail(), host="acme.localhost").status_code == 404
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {SECRET}")
    assert client.get("/inbound/mailgate/").status_code == 405
    assert _rows() == []
