"""Users, tenants (Organization), memberships, teams, custom domains, and TenantModel: the base
of every tenant-owned row, with its own organization column and a fail-closed manager."""

from typing import TYPE_CHECKING, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django_scopes import ScopedManager

from tenants.scoping import assert_writable

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
    "Use lower-case letters, digits and hyphens; it becomes part of a host name.",
)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        email = self.normalize_email(email).lower()
        user = self.model(email=email, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Everyone who logs in; what they may do in a tenant comes from a Membership."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Platform staff (all tenants).")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()
    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self):
        return self.name or self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email.split("@")[0]

    @property
    def initials(self) -> str:
        parts = self.display_name.replace(".", " ").split()
        return "".join(p[0] for p in parts[:2]).upper() or "?"


class Organization(models.Model):
    """A tenant. Not itself scoped: it *is* the scope."""

    slug = models.SlugField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC")
    language = models.CharField(max_length=16, default="en")
    last_ticket_number = models.PositiveIntegerField(default=0)
    # Branding: used in every mail and in the portal.
    accent_color = models.CharField(
        max_length=7,
        default="#2563eb",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #2563eb.")],
    )
    logo = models.FileField(upload_to="branding/", blank=True)
    sender_name = models.CharField(max_length=200, blank=True)
    footer_text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


if TYPE_CHECKING:
    _ScopedBase = models.Manager
else:
    # django-scopes builds its manager class at run time (refusing to query outside a scope);
    # the type checker sees the Manager it extends.
    _ScopedBase = type(ScopedManager(organization="organization"))


class OrganizationScopedManager(_ScopedBase):
    """Rows of the active tenant only; outside a tenant scope every query raises."""


class TenantModel(models.Model):
    """Base for every tenant-owned row: its own organization column and a fail-closed manager."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")

    objects = OrganizationScopedManager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        assert_writable(self)
        super().save(*args, **kwargs)


class Domain(models.Model):
    """A custom host name that serves a tenant, once verified."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="domains")
    host = models.CharField(max_length=253, unique=True)
    verified = models.BooleanField(default=False)

    def __str__(self):
        return self.host


class Membership(TenantModel):
    ADMIN = "admin"
    AGENT = "agent"
    ROLES = [(ADMIN, "Admin"), (AGENT, "Agent")]

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=ROLES, default=AGENT)
    # Away agents keep their tickets but get no new ones from round-robin or least-loaded.
    is_away = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user")
        ]

    @property
    def is_admin(self) -> bool:
        return self.role == self.ADMIN


class Team(TenantModel):
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(User, through="TeamMember", related_name="teams")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="team_unique_name")
        ]

    def __str__(self):
        return self.name


class TeamMember(TenantModel):
    team = models.ForeignKey(Team, on_delete=models.CASCADE)
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    is_manager = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="teammember_unique_user")
        ]


class Invitation(TenantModel):
    """An existing account asked to join this tenant: no membership until that person accepts
    from the mailed link while signed in as themselves (deleting the row revokes the link)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Membership.ROLES, default=Membership.AGENT)
    # The signed link names this key, not the row id, so a revoked and re-sent invitation never
    # revives an old link.
    key = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="invitation_unique_user")
        ]


class UserSession(TenantModel):
    """One signed-in browser of a user on one tenant's host (session cookies are per host), so
    that they can see it and end it, and so that removal or a new password ends it at once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40, unique=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organization", "user"], name="usersession_org_user")]


class AuditEntry(TenantModel):
    """Who changed which setting, and who signed in or failed to, on this tenant. `data` never
    holds a secret: passwords, tokens and keys are stored as "(changed)"."""

    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    SETTINGS_CHANGE = "settings_change"
    ACTIONS = [
        (SIGN_IN, "Signed in"),
        (SIGN_IN_FAILED, "Failed sign-in"),
        (SIGN_OUT, "Signed out"),
        (SETTINGS_CHANGE, "Changed settings"),
    ]

    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=32, choices=ACTIONS)
    target = models.CharField(max_length=200, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="auditentry_org_created")
        ]
