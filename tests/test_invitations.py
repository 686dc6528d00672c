"""Inviting an existing account: pending until that person accepts, signed in as themselves."""

import re

import pytest
from django.core import mail, signing

from tenants.models import Membership

pytestmark = pytest.mark.django_db


def _invite(acme, email="agent@globex.test", role="agent"):
    response = acme.client(acme.admin).post(
        "/settings/members/", {"email": email, "name": "", "role": role}
    )
    assert response.status_code == 302
    return response


def _link(message) -> str:
    match = re.search(r"http://acme\.localhost:8000(/invitations/\S+/)", message.body)
    assert match, message.body
    return match.group(1)


def _is_member(tenant, user) -> bool:
    with tenant.scope():
        return Membership.objects.filter(user=user).exists()


def test_inviting_an_existing_account_does_not_make_a_member(acme, globex):
    _invite(acme)
    assert _is_member(acme, globex.agent) is False
    assert [m.to for m in mail.outbox] == [["agent@globex.test"]]
    assert mail.outbox[0].subject == "You are invited to the Acme helpdesk"
    page = acme.client(acme.admin).get("/settings/members/").content.decode()
    assert "agent@globex.test" in page
    assert '<span class="badge">invited</span>' in page


def test_pending_invitee_cannot_sign_in(acme, globex):
    _invite(acme)
    client = acme.client()
    response = client.post("/login/", {"username": "agent@globex.test", "password": "pw"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "Please enter a correct email and password" in response.content.decode()


def test_invitee_accepts_with_their_password(acme, globex):
    _invite(acme, role="admin")
    link = _link(mail.outbox[0])
    client = acme.client()
    page = client.get(link).content.decode()
    assert "Sign in as agent@globex.test" in page
    wrong = client.post(link, {"password": "nope"})
    assert wrong.status_code == 400
    assert "That is not the password of this account." in wrong.content.decode()
    assert _is_member(acme, globex.agent) is False
    response = client.post(link, {"password": "pw"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(globex.agent.pk)
    with acme.scope():
        assert Membership.objects.get(user=globex.agent).role == "admin"
    # The link is spent.
    assert client.get(link).status_code == 404


def test_signed_in_invitee_accepts_with_one_click(acme, globex):
    _invite(acme)
    link = _link(mail.outbox[0])
    client = acme.client(globex.agent)
    assert "Signed in as agent@globex.test" in client.get(link).content.decode()
    assert client.post(link).status_code == 302
    assert _is_member(acme, globex.agent) is True


def test_another_signed_in_user_is_told_and_cannot_accept(acme, globex):
    _invite(acme)
    link = _link(mail.outbox[0])
    client = acme.client(globex.admin)
    response = client.post(link, {"password": "pw"})
    assert response.status_code == 403
    assert (
        "This invitation is for agent@globex.test, but you are signed in as admin@globex.test."
        in response.content.decode()
    )
    assert _is_member(acme, globex.agent) is False
    assert _is_member(acme, globex.admin) is False


def test_revoked_invitation_link_stops_working(acme, globex):
    _invite(acme)
    link = _link(mail.outbox[0])
    with acme.scope():
        invitation = globex.agent.invitations.get()
    response = acme.client(acme.admin).post(
        f"/settings/members/invitations/{invitation.pk}/revoke/", follow=True
    )
    assert "Invitation of agent@globex.test revoked." in response.content.decode()
    response = acme.client().post(link, {"password": "pw"})
    assert response.status_code == 404
    assert "This invitation no longer works" in response.content.decode()
    assert _is_member(acme, globex.agent) is False


def test_reinvited_after_revoke_old_link_stays_dead(acme, globex):
    _invite(acme)
    old = _link(mail.outbox[0])
    with acme.scope():
        invitation = globex.agent.invitations.get()
    acme.client(acme.admin).post(f"/settings/members/invitations/{invitation.pk}/revoke/")
    _invite(acme)
    assert acme.client().post(old, {"password": "pw"}).status_code == 404
    assert acme.client().post(_link(mail.outbox[1]), {"password": "pw"}).status_code == 302


def test_expired_invitation_link_stops_working(acme, globex, monkeypatch):
    _invite(acme)
    link = _link(mail.outbox[0])
    monkeypatch.setattr("tenants.tokens.INVITATION_MAX_AGE", -1)
    assert acme.client().post(link, {"password": "pw"}).status_code == 404
    assert _is_member(acme, globex.agent) is False


def test_invitation_link_does_not_work_on_another_tenant(acme, globex):
    _invite(acme)
    link = _link(mail.outbox[0])
    assert globex.client().post(link, {"password": "pw"}).status_code == 404
    assert _is_member(acme, globex.agent) is False


def test_forged_invitation_token_is_refused(acme, globex):
    _invite(acme)
    forged = signing.dumps({"o": acme.org.pk, "k": "guess"}, salt="tenants.invitation")
    assert acme.client().post(f"/invitations/{forged}/", {"password": "pw"}).status_code == 404
    assert acme.client().get("/invitations/garbage/").status_code == 404


def test_invite_pending_person_again_is_refused(acme, globex):
    _invite(acme)
    response = acme.client(acme.admin).post(
        "/settings/members/", {"email": "agent@globex.test", "role": "agent"}
    )
    assert response.status_code == 400
    assert (
        "This person is already invited; revoke the invitation to send a new one."
        in response.content.decode()
    )


def test_another_tenants_invitation_cannot_be_revoked(acme, globex):
    acme.client(acme.admin).post(
        "/settings/members/", {"email": "admin@globex.test", "role": "agent"}
    )
    with acme.scope():
        invitation = globex.admin.invitations.get()
    assert (
        globex.client(globex.admin)
        .post(f"/settings/members/invitations/{invitation.pk}/revoke/")
        .status_code
        == 404
    )
    with acme.scope():
        assert globex.admin.invitations.count() == 1
