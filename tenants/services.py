"""Every change to tenants, users, memberships and teams."""

import secrets

from django.db import transaction

from tenants import provisioning, sessions
from tenants.models import Invitation, Membership, Organization, Team, TeamMember, User
from tenants.scoping import tenant_scope


@transaction.atomic
def organization_create(*, slug: str, name: str, timezone: str = "UTC") -> Organization:
    """A tenant, set up by every app's provisioning step (default statuses and priorities...)."""
    organization = Organization(slug=slug.lower(), name=name, timezone=timezone)
    organization.full_clean()
    organization.save()
    with tenant_scope(organization):
        provisioning.provision(organization)
    return organization


def user_get_or_create(*, email: str, name: str = "", password: str | None = None) -> User:
    user = User.objects.filter(email=email.lower()).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password, name=name)
    return user


def membership_add(*, organization: Organization, user: User, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    return membership


def team_create(*, organization: Organization, name: str, members=(), managers=()) -> Team:
    team, _ = Team.objects.get_or_create(organization=organization, name=name)
    for user in members:
        TeamMember.objects.get_or_create(
            organization=organization,
            team=team,
            user=user,
            defaults={"is_manager": user in managers},
        )
    return team


class LastAdmin(Exception):
    """The change would leave the tenant without an admin."""


def _admins_left_without(membership: Membership) -> int:
    return Membership.objects.filter(role=Membership.ADMIN).exclude(pk=membership.pk).count()


@transaction.atomic
def member_invite(
    *, organization: Organization, email: str, name: str, role: str, invited_by: User | None = None
) -> Membership | Invitation:
    """Someone new becomes a member at once (with no password until they set one by mail); an
    existing account is only invited: it joins when that person accepts (`invitation_accept`)."""
    user = User.objects.filter(email=email.lower()).first()
    if user is None:
        user = User.objects.create_user(email=email, password=None, name=name)
        return membership_add(organization=organization, user=user, role=role)
    invitation, _ = Invitation.objects.update_or_create(
        organization=organization,
        user=user,
        defaults={"role": role, "key": secrets.token_urlsafe(32), "invited_by": invited_by},
    )
    return invitation


class WrongInvitee(Exception):
    """The invitation is for another account than the one accepting it."""


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """The invited person joins with the role they were invited as; the link stops working."""
    if user.pk != invitation.user_id:
        raise WrongInvitee(f"This invitation is for {invitation.user.email}.")
    membership = membership_add(
        organization=invitation.organization, user=user, role=invitation.role
    )
    invitation.delete()
    return membership


def invitation_revoke(*, invitation: Invitation) -> None:
    """The mailed link stops working (it names the deleted row's key)."""
    invitation.delete()


def member_change_role(*, membership: Membership, role: str) -> Membership:
    demoting = membership.role == Membership.ADMIN and role != Membership.ADMIN
    if demoting and _admins_left_without(membership) == 0:
        raise LastAdmin("This is the only admin: make someone else admin first.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


def membership_set_away(*, membership: Membership, is_away: bool) -> Membership:
    """Away agents keep their tickets but get none from round-robin or least-loaded assignment
    (automations.assignment) until they are back."""
    if membership.is_away != is_away:
        membership.is_away = is_away
        membership.save(update_fields=["is_away"])
    return membership


@transaction.atomic
def member_remove(*, membership: Membership) -> None:
    if membership.role == Membership.ADMIN and _admins_left_without(membership) == 0:
        raise LastAdmin("This is the only admin: make someone else admin first.")
    TeamMember.objects.filter(user_id=membership.user_id).delete()
    membership.delete()
    # Signed out here at once, not only refused at their next request.
    sessions.user_sessions_end_for_member(
        organization=membership.organization, user=membership.user
    )


@transaction.atomic
def team_save(
    *, organization: Organization, team: Team | None, name: str, members=(), managers=()
) -> Team:
    team = team or Team(organization=organization)
    team.name = name.strip()
    team.save()
    wanted = {u.pk for u in members}
    TeamMember.objects.filter(team=team).exclude(user_id__in=wanted).delete()
    manager_ids = {u.pk for u in managers}
    for user in members:
        TeamMember.objects.update_or_create(
            organization=organization,
            team=team,
            user=user,
            defaults={"is_manager": user.pk in manager_ids},
        )
    return team
