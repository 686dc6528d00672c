"""Sign-in and password-reset throttling: per account, per client address, no enumeration."""

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client

from tenants import throttle
from tenants.models import User

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed sign-ins; try again in 1 minute."
WRONG = "Please enter a correct email and password."


def _sign_in(client, email, password, address="10.0.0.1", path="/login/"):
    response = client.post(path, {"username": email, "password": password}, REMOTE_ADDR=address)
    return response, "_auth_user_id" in client.session


def _error(response) -> str:
    return " ".join(str(e) for e in response.context["form"].non_field_errors())


def test_failures_lock_the_account_across_addresses(acme):
    client = acme.client()
    for n in range(throttle.SIGN_IN.per_account - 1):
        response, _ = _sign_in(client, "agent@acme.test", "wrong", address=f"10.0.1.{n}")
        assert _error(response).startswith(WRONG)
    response, _ = _sign_in(client, "agent@acme.test", "wrong", address="10.0.2.1")
    assert _error(response) == LOCKED
    # The right password, from a fresh address, is refused with the same message.
    response, signed_in = _sign_in(acme.client(), "agent@acme.test", "pw", address="10.0.3.1")
    assert (_error(response), signed_in) == (LOCKED, False)
    # Another account is not affected.
    response, signed_in = _sign_in(acme.client(), "admin@acme.test", "pw", address="10.0.3.1")
    assert signed_in is True


def test_many_accounts_from_one_address_lock_the_address(acme):
    for n in range(throttle.SIGN_IN.per_address):
        _sign_in(acme.client(), f"nobody{n}@acme.test", "guess", address="10.9.9.9")
    response, signed_in = _sign_in(acme.client(), "agent@acme.test", "pw", address="10.9.9.9")
    assert (_error(response), signed_in) == (LOCKED, False)
    response, signed_in = _sign_in(acme.client(), "agent@acme.test", "pw", address="10.9.9.8")
    assert signed_in is True


def test_x_forwarded_for_does_not_escape_the_address_lock(acme):
    for n in range(throttle.SIGN_IN.per_address):
        acme.client().post(
            "/login/",
            {"username": f"nobody{n}@acme.test", "password": "guess"},
            REMOTE_ADDR="10.9.9.9",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
    response, signed_in = _sign_in(acme.client(), "agent@acme.test", "pw", address="10.9.9.9")
    assert (_error(response), signed_in) == (LOCKED, False)


def test_unknown_and_known_accounts_get_the_same_messages(acme):
    def messages(email):
        cache.clear()
        return [
            _error(_sign_in(acme.client(), email, "wrong", address="10.0.5.1")[0])
            for _ in range(throttle.SIGN_IN.per_account + 1)
        ]

    known = messages("agent@acme.test")
    assert known == [WRONG + " Note that both fields may be case-sensitive."] * 4 + [LOCKED] * 2
    assert messages("nobody@acme.test") == known
    assert messages("agent@globex.test") == known  # an account, but not of this tenant


def test_unknown_account_still_runs_the_password_hasher(acme, monkeypatch):
    calls = []
    original = User.set_password

    def spy(self, raw):
        calls.append(raw)
        return original(self, raw)

    monkeypatch.setattr(User, "set_password", spy)
    _sign_in(acme.client(), "nobody@acme.test", "guess")
    assert calls == ["guess"]  # Django's backend hashes a dummy for unknown accounts


def test_lock_grows_with_each_lock(acme, monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(throttle.time, "time", lambda: now[0])
    for _ in range(throttle.SIGN_IN.per_account):
        _sign_in(acme.client(), "agent@acme.test", "wrong")
    response, _ = _sign_in(acme.client(), "agent@acme.test", "pw")
    assert _error(response) == LOCKED
    now[0] += 61
    for _ in range(throttle.SIGN_IN.per_account):
        _sign_in(acme.client(), "agent@acme.test", "wrong", address="10.0.6.1")
    response, _ = _sign_in(acme.client(), "agent@acme.test", "pw", address="10.0.6.2")
    assert _error(response) == "Too many failed sign-ins; try again in 2 minutes."


def test_success_forgets_the_accounts_failures(acme):
    for _ in range(throttle.SIGN_IN.per_account - 1):
        _sign_in(acme.client(), "agent@acme.test", "wrong")
    assert _sign_in(acme.client(), "agent@acme.test", "pw")[1] is True
    for _ in range(throttle.SIGN_IN.per_account - 1):
        _sign_in(acme.client(), "agent@acme.test", "wrong", address="10.0.7.1")
    assert _sign_in(acme.client(), "agent@acme.test", "pw", address="10.0.7.2")[1] is True


def test_a_form_without_password_does_not_reset_the_count(acme):
    for _ in range(throttle.SIGN_IN.per_account - 1):
        _sign_in(acme.client(), "agent@acme.test", "wrong")
        _sign_in(acme.client(), "agent@acme.test", "")
    response, _ = _sign_in(acme.client(), "agent@acme.test", "wrong")
    assert _error(response) == LOCKED  # the fifth failure, however many blank forms between


def test_staff_sign_in_is_throttled(db):
    User.objects.create_user(email="staff@platform.test", password="pw", is_staff=True)
    client = Client(HTTP_HOST="localhost")
    for _ in range(throttle.SIGN_IN.per_account):
        client.post("/login/", {"username": "staff@platform.test", "password": "wrong"})
    response = client.post("/login/", {"username": "staff@platform.test", "password": "pw"})
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_password_reset_requests_are_throttled(acme):
    for _ in range(throttle.PASSWORD_RESET.per_account):
        response = acme.client().post(
            "/password-reset/", {"email": "agent@acme.test"}, REMOTE_ADDR="10.1.0.1"
        )
        assert response.status_code == 302
    response = acme.client().post(
        "/password-reset/", {"email": "agent@acme.test"}, REMOTE_ADDR="10.1.0.2"
    )
    assert response.status_code == 200
    assert "Too many password reset requests; try again in 1 minute." in response.content.decode()
    assert len(mail.outbox) == throttle.PASSWORD_RESET.per_account
    # Unknown accounts are limited the same way: nothing tells them apart.
    statuses = [
        acme.client().post("/password-reset/", {"email": "nobody@acme.test"}).status_code
        for _ in range(throttle.PASSWORD_RESET.per_account + 1)
    ]
    assert statuses == [302] * throttle.PASSWORD_RESET.per_account + [200]


def test_password_reset_requests_from_one_address_are_throttled(acme):
    for n in range(throttle.PASSWORD_RESET.per_address):
        acme.client().post(
            "/password-reset/", {"email": f"nobody{n}@acme.test"}, REMOTE_ADDR="10.2.0.1"
        )
    response = acme.client().post(
        "/password-reset/", {"email": "agent@acme.test"}, REMOTE_ADDR="10.2.0.1"
    )
    assert "Too many password reset requests; try again in 1 minute." in response.content.decode()
    assert mail.outbox == []


def test_trusted_proxy_hops_take_the_address_the_proxy_saw(settings, rf):
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert throttle.client_address(request) == "10.0.0.2"
    settings.TRUSTED_PROXY_HOPS = 1
    assert throttle.client_address(request) == "203.0.113.9"
