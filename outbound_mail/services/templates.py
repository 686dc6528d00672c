"""What the tenant's mail says and how it looks: its templates (checked before they are
stored) and its branding (logo, colour, sender name, footer)."""

import hashlib
from datetime import datetime

from django.urls import reverse

from outbound_mail import delivery, placeholders, rendering
from outbound_mail.models import EmailTemplate
from tenants.hosts import organization_url
from tenants.models import Organization, User


def template_save(
    *,
    organization: Organization,
    kind: str,
    subject: str,
    body_text: str,
    body_html: str,
    enabled: bool,
    user: User | None,
    now: datetime,
) -> EmailTemplate:
    """Store the tenant's template after proving it renders; TemplateError says why not."""
    source = rendering.Source(subject=subject, body_text=body_text, body_html=body_html)
    rendering.check(source, placeholders.sample_values(kind))
    row, _ = EmailTemplate.objects.update_or_create(
        organization=organization,
        kind=kind,
        defaults={
            "subject": subject,
            "body_text": body_text,
            "body_html": body_html,
            "enabled": enabled,
            "updated_at": now,
            "updated_by": user,
        },
    )
    return row


def template_reset(*, kind: str) -> None:
    EmailTemplate.objects.filter(kind=kind).delete()


def branding_of(organization: Organization) -> rendering.Branding:
    logo_url = ""
    if organization.logo.name:  # a FieldFile is true exactly when it has a name
        path = reverse("outbound_mail:logo")
        version = hashlib.sha256(organization.logo.name.encode()).hexdigest()[:10]
        logo_url = organization_url(organization, f"{path}?v={version}")
    return rendering.Branding(
        name=delivery.display_name(organization),
        accent_color=rendering.safe_color(organization.accent_color),
        logo_url=logo_url,
        footer_text=organization.footer_text,
    )


def branding_save(
    *,
    organization: Organization,
    accent_color: str,
    sender_name: str,
    footer_text: str,
    logo=None,
    remove_logo: bool = False,
) -> Organization:
    """The tenant's look in every mail (and the portal)."""
    organization.accent_color = accent_color
    organization.sender_name = sender_name
    organization.footer_text = footer_text
    fields = ["accent_color", "sender_name", "footer_text"]
    if remove_logo and organization.logo:
        organization.logo.delete(save=False)
        fields.append("logo")
    elif logo is not None:
        organization.logo.save(logo.name, logo, save=False)
        fields.append("logo")
    organization.full_clean(exclude=["slug"])
    Organization.objects.filter(pk=organization.pk).update(
        **{f: getattr(organization, f) for f in fields}
    )
    return organization
