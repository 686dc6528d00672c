"""Signed links a tenant mails, each bound to that tenant: invitations to join it, and password
resets (a link issued on one tenant's host never works on another's)."""

from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing

from tenants.models import Invitation, Organization

INVITATION_SALT = "tenants.invitation"
INVITATION_MAX_AGE = 7 * 24 * 3600  # seconds: a week to accept


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps(
        {"o": invitation.organization_id, "k": invitation.key}, salt=INVITATION_SALT
    )


def invitation_from_token(token: str, organization: Organization) -> Invitation | None:
    """The pending invitation the link names, if it is this tenant's, unexpired and not revoked
    (revoking deletes the row, so its key finds nothing)."""
    try:
        data = signing.loads(token, salt=INVITATION_SALT, max_age=INVITATION_MAX_AGE)
    except signing.BadSignature:  # also SignatureExpired
        return None
    if not isinstance(data, dict) or data.get("o") != organization.pk:
        return None
    key = data.get("k")
    if not isinstance(key, str):
        return None
    return Invitation.objects.select_related("user").filter(key=key).first()


class TenantPasswordResetTokenGenerator(PasswordResetTokenGenerator):
    """Django's reset token with the tenant in its hash: a link mailed for one tenant's host is
    invalid on every other host, even for a person who belongs to both."""

    key_salt = "tenants.tokens.TenantPasswordResetTokenGenerator"

    def __init__(self, organization: Organization):
        super().__init__()
        self.organization = organization

    def _make_hash_value(self, user, timestamp):
        return f"{self.organization.pk}:{super()._make_hash_value(user, timestamp)}"
