"""Sessions: rotated at sign-in, ended when the user leaves the tenant or gets a new password,
listed on the user's own page where they end the others, and good only on their own host."""

import re
from importlib import import_module

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_scopes import scopes_disabled

from tenants import services as tenant_services
from tenants.models import Membership, User, UserSession

SESSIONS_URL = "/agent/account/sessions/"


def _store_has(session_key: str) -> bool:
    return import_module(settings.SESSION_ENGINE).SessionStore().exists(session_key)


def _sign_in(tenant, user, user_agent="Firefox on Linux") -> Client:
    client = Client(
        HTTP_HOST=f"{tenant.org.slug}.localhost",
        HTTP_USER_AGENT=user_agent,
        REMOTE_ADDR="203.0.113.7",
    )
    response = client.post("/login/", {"username": user.email, "password": "pw"})
    assert response.status_code == 302, response.content
    return client


def _key(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _rows(user: User) -> list[tuple[str, str]]:
    # scopes_disabled: the test looks at every tenant's rows for this user.
    with scopes_disabled():
        return sorted(
            (row.organization.slug, row.session_key)
            for row in UserSession.objects.filter(user=user).select_related("organization")
        )


def _signed_in(client: Client) -> bool:
    response = client.get(SESSIONS_URL)
    return response.status_code == 200


# -- (a) rotated at sign-in ----------------------------------------------------------------------


def test_sign_in_rotates_the_session_key(acme):
    client = Client(
        HTTP_HOST="acme.localhost", HTTP_USER_AGENT="Firefox on Linux", REMOTE_ADDR="203.0.113.7"
    )
    session = client.session  # an anonymous session exists before signing in
    session["before"] = "yes"
    session.save()
    before = session.session_key

    response = client.post("/login/", {"username": acme.agent.email, "password": "pw"})

    assert response.status_code == 302
    after = _key(client)
    assert after != before
    assert _store_has(before) is False
    assert _rows(acme.agent) == [("acme", after)]
    with acme.scope():
        row = UserSession.objects.get(session_key=after)
    assert (row.user_agent, row.ip) == ("Firefox on Linux", "203.0.113.7")


def test_sign_out_forgets_the_session(acme):
    client = _sign_in(acme, acme.agent)
    key = _key(client)
    client.post("/logout/")
    assert _rows(acme.agent) == []
    assert _store_has(key) is False


# -- (b) ended for a user removed from the tenant ------------------------------------------------


def test_removing_a_member_ends_their_sessions_on_that_tenant_at_once(acme, globex):
    with globex.scope():
        tenant_services.membership_add(organization=globex.org, user=acme.agent, role="agent")
    laptop = _sign_in(acme, acme.agent, "Firefox")
    phone = _sign_in(acme, acme.agent, "Safari")
    elsewhere = _sign_in(globex, acme.agent, "Chrome")
    acme_keys = [_key(laptop), _key(phone)]
    with acme.scope():
        membership = Membership.objects.get(user=acme.agent)

    response = acme.client(acme.admin).post(
        f"/settings/members/{membership.pk}/remove/", {"confirm": "1"}
    )

    assert response.status_code == 302
    assert _rows(acme.agent) == [("globex", _key(elsewhere))]
    assert [_store_has(key) for key in acme_keys] == [False, False]
    assert laptop.get(SESSIONS_URL).status_code == 302  # to the sign-in page
    assert _signed_in(elsewhere) is True


# -- (c) ended when the password changes ---------------------------------------------------------


def _reset_password(tenant, user, new_password: str) -> Client:
    """Through the mailed link, as the person would (the link's token is the tenant's)."""
    client = Client(HTTP_HOST=f"{tenant.org.slug}.localhost")
    client.post("/password-reset/", {"email": user.email})
    link = re.search(r"/password-reset/[\w-]+/[\w-]+/", mail.outbox[-1].body).group(0)
    form_url = client.get(link)["Location"]
    response = client.post(form_url, {"new_password1": new_password, "new_password2": new_password})
    assert response.status_code == 302, response.content
    return client


def test_password_reset_ends_every_session_of_the_user(acme, globex):
    with globex.scope():
        tenant_services.membership_add(organization=globex.org, user=acme.agent, role="agent")
    laptop = _sign_in(acme, acme.agent, "Firefox")
    elsewhere = _sign_in(globex, acme.agent, "Chrome")
    other_user = _sign_in(acme, acme.admin, "Edge")
    keys = [_key(laptop), _key(elsewhere)]

    _reset_password(acme, acme.agent, "a new long passphrase")

    assert _rows(acme.agent) == []
    assert [_store_has(key) for key in keys] == [False, False]
    assert (_signed_in(laptop), _signed_in(elsewhere), _signed_in(other_user)) == (
        False,
        False,
        True,
    )


def test_password_change_keeps_the_session_that_changed_it(acme):
    changer = _sign_in(acme, acme.agent, "Firefox")
    other = _sign_in(acme, acme.agent, "Safari")
    other_key = _key(other)

    response = changer.post(
        "/agent/account/password/",
        {
            "old_password": "pw",
            "new_password1": "a new long passphrase",
            "new_password2": "a new long passphrase",
        },
    )

    assert response.status_code == 302, response.content
    assert _rows(acme.agent) == [("acme", _key(changer))]
    assert _store_has(other_key) is False
    assert (_signed_in(changer), _signed_in(other)) == (True, False)


def test_password_change_with_a_wrong_old_password_is_refused_and_ends_nothing(acme):
    changer = _sign_in(acme, acme.agent, "Firefox")
    other = _sign_in(acme, acme.agent, "Safari")
    response = changer.post(
        "/agent/account/password/",
        {"old_password": "nope", "new_password1": "x" * 12, "new_password2": "x" * 12},
    )
    assert response.status_code == 200
    assert b"Your old password was entered incorrectly" in response.content
    assert (_signed_in(changer), _signed_in(other)) == (True, True)


# -- (d) the user's sessions page ----------------------------------------------------------------


def test_sessions_page_lists_the_users_sessions_and_marks_this_one(acme):
    laptop = _sign_in(acme, acme.agent, "Firefox on Linux")
    _sign_in(acme, acme.agent, "Safari on iPhone")
    _sign_in(acme, acme.admin, "Edge on Windows")

    body = laptop.get(SESSIONS_URL).content.decode()

    assert body.count("<tr>") == 3  # the header row and two sessions
    assert 'Firefox on Linux <span class="badge badge-ok">this session</span>' in body
    assert "Safari on iPhone</td>" in body
    assert "Edge on Windows" not in body
    assert body.count("<td>203.0.113.7</td>") == 2
    assert body.count(">End</button>") == 1  # this session ends by signing out
    assert "End all other sessions" in body


def test_ending_another_session_signs_it_out(acme):
    laptop = _sign_in(acme, acme.agent, "Firefox")
    phone = _sign_in(acme, acme.agent, "Safari")
    with acme.scope():
        row = UserSession.objects.get(session_key=_key(phone))

    response = laptop.post(f"{SESSIONS_URL}{row.pk}/end/")

    assert response.status_code == 302
    assert _rows(acme.agent) == [("acme", _key(laptop))]
    assert (_signed_in(laptop), _signed_in(phone)) == (True, False)


def test_ending_all_other_sessions(acme):
    laptop = _sign_in(acme, acme.agent, "Firefox")
    others = [_sign_in(acme, acme.agent, agent) for agent in ("Safari", "Chrome")]
    admin = _sign_in(acme, acme.admin, "Edge")

    response = laptop.post(f"{SESSIONS_URL}end-others/", follow=True)

    assert "Signed out 2 other sessions." in response.content.decode()
    assert _rows(acme.agent) == [("acme", _key(laptop))]
    assert [_signed_in(c) for c in others] == [False, False]
    assert _signed_in(admin) is True


def test_ending_another_users_session_is_404(acme, globex):
    laptop = _sign_in(acme, acme.agent, "Firefox")
    admin = _sign_in(acme, acme.admin, "Edge")
    stranger = _sign_in(globex, globex.agent, "Chrome")
    with scopes_disabled():  # the test names rows of both tenants
        targets = list(
            UserSession.objects.filter(session_key__in=[_key(admin), _key(stranger), _key(laptop)])
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    codes = [laptop.post(f"{SESSIONS_URL}{pk}/end/").status_code for pk in targets]

    assert codes == [404, 404, 404]  # the admin's, globex's, and this very session
    assert [_signed_in(c) for c in (laptop, admin, stranger)] == [True, True, True]


def test_ending_a_session_needs_the_csrf_token(acme):
    phone = _sign_in(acme, acme.agent, "Safari")
    laptop = Client(HTTP_HOST="acme.localhost", enforce_csrf_checks=True)
    laptop.force_login(acme.agent)
    laptop.get(SESSIONS_URL)
    with acme.scope():
        row = UserSession.objects.get(session_key=_key(phone))
    assert laptop.post(f"{SESSIONS_URL}{row.pk}/end/").status_code == 403
    assert laptop.post(f"{SESSIONS_URL}end-others/").status_code == 403
    assert _signed_in(phone) is True


def test_sessions_page_needs_a_signed_in_member(acme, globex):
    assert acme.client().get(SESSIONS_URL).status_code == 302
    assert acme.client(globex.agent).get(SESSIONS_URL).status_code == 404


def test_the_last_seen_time_is_written_at_most_once_a_minute(acme):
    client = _sign_in(acme, acme.agent)
    with acme.scope():
        signed_in_at = UserSession.objects.get().last_seen_at
    with CaptureQueriesContext(connection) as within_the_minute:
        client.get("/agent/account/password/")
    with acme.scope():
        assert UserSession.objects.get().last_seen_at == signed_in_at
    session = client.session
    session["_tenants_seen_at"] -= 61  # the last note is over a minute old
    session.save()
    client.get("/agent/account/password/")
    with acme.scope():
        assert UserSession.objects.get().last_seen_at > signed_in_at
    assert [q["sql"] for q in within_the_minute if "usersession" in q["sql"].lower()] == []


# -- a session is good only on its own tenant's host ---------------------------------------------


@pytest.mark.parametrize("path", ["/agent/", SESSIONS_URL, "/settings/members/"])
def test_a_session_cookie_from_acme_signs_in_nobody_on_globex(acme, globex, path):
    acme_client = _sign_in(acme, acme.admin)
    thief = Client(HTTP_HOST="globex.localhost")
    thief.cookies[settings.SESSION_COOKIE_NAME] = _key(acme_client)

    response = thief.get(path)

    assert response.status_code == 404
    assert acme.admin.email not in response.content.decode()
    assert _rows(acme.admin) == [("acme", _key(acme_client))]
