"""Which tenant a web request is for, from its Host header (never from anything the user sends)."""

from django.conf import settings

from tenants.models import Domain, Organization


def split_host(host: str) -> str:
    """Lower-case host without the port; IPv6 literals keep their brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


def is_platform_host(host: str) -> bool:
    return split_host(host) == settings.BASE_DOMAIN.lower()


def organization_for_host(host: str) -> Organization | None:
    """`<slug>.<BASE_DOMAIN>` or a verified custom domain; None for anything else."""
    name = split_host(host)
    suffix = "." + settings.BASE_DOMAIN.lower()
    if name.endswith(suffix):
        slug = name[: -len(suffix)]
        if "." in slug or not slug:
            return None
        return Organization.objects.filter(slug=slug).first()
    domain = Domain.objects.filter(host=name, verified=True).select_related("organization").first()
    return domain.organization if domain else None


def organization_url(organization: Organization, path: str = "/") -> str:
    port = settings.PUBLIC_PORT
    netloc = f"{organization.slug}.{settings.BASE_DOMAIN}"
    if port and port not in ("80", "443"):
        netloc += f":{port}"
    return f"{settings.PUBLIC_SCHEME}://{netloc}{path}"
