from django.db import transaction

from tenants.models import Membership, Organization, Team, TeamMember, User
from tenants.scoping import tenant_scope


@transaction.atomic
def organization_create(*, slug: str, name: str, timezone: str = "UTC") -> Organization:
    """A tenant with the default statuses and priorities."""
    from tickets.services import defaults_create

    organization = Organization(slug=slug.lower(), name=name, timezone=timezone)
    organization.full_clean()
    organization.save()
    with tenant_scope(organization):
        defaults_create(organization=organization)
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
