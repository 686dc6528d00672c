"""The tenant's audit log (AuditEntry): sign-ins, failed sign-ins and sign-outs, and every
settings change, written without a secret in it.

Settings changes are recorded for every settings page at once, by SettingsAuditMiddleware,
from the request and the response, so the pages themselves need not know. The rule for "the
POST changed something": the response is a redirect (the post/redirect/get every settings page
answers a successful save with) and the request queued no error message (a refused change,
such as demoting the last admin, redirects with one); or an htmx request answered with
HX-Redirect, HX-Location or HX-Refresh. A page that renders itself again (form errors, 400; a
"send test" or a preview, 200) changed nothing and is not recorded.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse

from tenants.models import AuditEntry, Membership, Organization, User
from tenants.sessions import client_ip

SETTINGS_PREFIX = "/settings/"
CHANGED = "(changed)"
_SECRET_WORDS = ("password", "secret", "token", "key", "credential")
_NOT_RECORDED = {"csrfmiddlewaretoken"}
_HTMX_DONE = ("HX-Redirect", "HX-Location", "HX-Refresh")
MAX_VALUE_LENGTH = 500


def audit_record(
    *,
    organization: Organization,
    action: str,
    actor: User | None,
    ip: str | None,
    target: str = "",
    object_id: str = "",
    data: dict | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        organization=organization,
        actor=actor,
        action=action,
        target=target[:200],
        object_id=object_id[:100],
        ip=ip,
        data=data or {},
    )


# -- sign-in, from django.contrib.auth's signals -------------------------------------------------


def _tenant(request) -> Organization | None:
    return getattr(request, "organization", None) if request is not None else None


def audit_sign_in(*, request, user: User) -> None:
    organization = _tenant(request)
    if organization is not None:
        audit_record(
            organization=organization,
            action=AuditEntry.SIGN_IN,
            actor=user,
            ip=client_ip(request),
            target=user.email,
        )


def audit_sign_in_failed(*, request, credentials: dict) -> None:
    """A failed sign-in with the address of a member of this tenant (anyone else's is noise an
    attacker could fill the log with)."""
    organization = _tenant(request)
    email = str(credentials.get("username") or "").strip().lower()
    if organization is None or not email:
        return
    membership = Membership.objects.select_related("user").filter(user__email=email).first()
    if membership is not None:
        audit_record(
            organization=organization,
            action=AuditEntry.SIGN_IN_FAILED,
            actor=membership.user,
            ip=client_ip(request),
            target=email,
        )


def audit_sign_out(*, request, user: User | None) -> None:
    organization = _tenant(request)
    if organization is not None and user is not None:
        audit_record(
            organization=organization,
            action=AuditEntry.SIGN_OUT,
            actor=user,
            ip=client_ip(request),
            target=user.email,
        )


# -- settings changes, from SettingsAuditMiddleware ----------------------------------------------


def is_secret_field(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def submitted_fields(request: HttpRequest) -> dict[str, object]:
    """The POSTed fields by name: secrets as "(changed)", files by name and size."""
    fields: dict[str, object] = {}
    for name in request.POST:
        if name in _NOT_RECORDED:
            continue
        values = request.POST.getlist(name)
        if is_secret_field(name):
            fields[name] = CHANGED
        else:
            shown = [value[:MAX_VALUE_LENGTH] for value in values]
            fields[name] = shown[0] if len(shown) == 1 else shown
    for name in request.FILES:
        files = [{"name": f.name, "size": f.size} for f in request.FILES.getlist(name)]
        fields[name] = files[0] if len(files) == 1 else files
    return fields


def _queued_error(request) -> bool:
    # The messages this request added and nothing displayed yet: a redirect renders none. The
    # storage keeps them in _queued_messages (django.contrib.messages.storage.base.BaseStorage);
    # iterating the storage would mark them shown and lose them.
    storage = getattr(request, "_messages", None)
    queued = getattr(storage, "_queued_messages", [])
    return any(message.level >= messages.ERROR for message in queued)


def changed_settings(request: HttpRequest, response: HttpResponse) -> bool:
    if request.method != "POST" or not request.path.startswith(SETTINGS_PREFIX):
        return False
    if 300 <= response.status_code < 400:
        return not _queued_error(request)
    htmx_done = any(response.has_header(header) for header in _HTMX_DONE)
    return 200 <= response.status_code < 300 and htmx_done


def audit_settings_change(*, request, response: HttpResponse) -> AuditEntry | None:
    """Record the settings change this request made, if it made one (see the module's rule)."""
    organization = getattr(request, "organization", None)
    user = getattr(request, "user", None)
    if organization is None or user is None or not user.is_authenticated:
        return None
    if not changed_settings(request, response) or not request.membership:
        return None
    match = request.resolver_match
    kwargs = match.kwargs if match is not None else {}
    object_id = ",".join(f"{value}" for value in kwargs.values())
    return audit_record(
        organization=organization,
        action=AuditEntry.SETTINGS_CHANGE,
        actor=user,
        ip=client_ip(request),
        target=match.view_name if match is not None else request.path,
        object_id=object_id,
        data={"path": request.path, "fields": submitted_fields(request)},
    )
