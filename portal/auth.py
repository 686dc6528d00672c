"""Who is using the portal: a contact signed in on this tenant's host, or an agent viewing it
as one contact would (read-only, with a banner).

The portal's session lives beside the agents' (Django's auth) in the same host-only session:
`SESSION_KEY` holds the contact's id, the tenant's id and the account's `session_epoch` when it
signed in. It counts only on the tenant that made it and only while the epoch is unchanged (a
new password ends the other sessions). `PREVIEW_KEY` holds the contact an agent chose to view
the portal as; it counts only while that browser is signed in as a member of the tenant."""

from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.models import AnonymousUser
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from portal.models import PortalAccount
from tickets.models import Contact

SESSION_KEY = "portal_contact"
PREVIEW_KEY = "portal_preview_contact"


@dataclass(frozen=True)
class PortalVisitor:
    contact: Contact
    preview: bool  # an agent viewing the portal as this contact: reads only, never acts

    @property
    def can_act(self) -> bool:
        return not self.preview


def is_agent(request) -> bool:
    """A member of this tenant is signed in (the portal shows them its banner)."""
    return bool(getattr(request, "user", AnonymousUser()).is_authenticated and request.membership)


def sign_in(request, account: PortalAccount) -> None:
    """Start the contact's portal session (a new session key: no fixation)."""
    request.session.cycle_key()
    request.session[SESSION_KEY] = {
        "contact": account.contact_id,
        "org": request.organization.pk,
        "epoch": account.session_epoch,
    }
    PortalAccount.objects.filter(pk=account.pk).update(last_sign_in_at=timezone.now())
    request._portal_visitor = None  # computed again


def sign_out(request) -> None:
    request.session.pop(SESSION_KEY, None)
    request.session.pop(PREVIEW_KEY, None)
    request.session.cycle_key()
    request._portal_visitor = None


def start_preview(request, contact: Contact) -> None:
    request.session[PREVIEW_KEY] = {"contact": contact.pk, "org": request.organization.pk}
    request._portal_visitor = None


def stop_preview(request) -> None:
    request.session.pop(PREVIEW_KEY, None)
    request._portal_visitor = None


def visitor(request) -> PortalVisitor | None:
    """The contact this request acts as (or previews as), or None; cached on the request."""
    cached = getattr(request, "_portal_visitor", None)
    if cached is not None:
        return cached or None
    found = _preview(request) or _signed_in(request)
    request._portal_visitor = found or False
    return found


def _stored(request, key: str) -> tuple[dict, int] | None:
    """The session's entry under `key` and its contact id, when it is this tenant's."""
    stored = request.session.get(key)
    if not isinstance(stored, dict) or stored.get("org") != request.organization.pk:
        return None
    contact_id = stored.get("contact")
    return (stored, contact_id) if isinstance(contact_id, int) else None


def _signed_in(request) -> PortalVisitor | None:
    found = _stored(request, SESSION_KEY)
    if found is None:
        return None
    stored, contact_id = found
    account = (
        PortalAccount.objects.select_related("contact", "contact__customer")
        .filter(contact_id=contact_id)
        .first()
    )
    if account is None or account.session_epoch != stored.get("epoch"):
        request.session.pop(SESSION_KEY, None)
        return None
    return PortalVisitor(contact=account.contact, preview=False)


def _preview(request) -> PortalVisitor | None:
    found = _stored(request, PREVIEW_KEY)
    if found is None:
        return None
    if not is_agent(request):
        request.session.pop(PREVIEW_KEY, None)
        return None
    contact = Contact.objects.select_related("customer").filter(pk=found[1]).first()
    return PortalVisitor(contact=contact, preview=True) if contact is not None else None


def sign_in_url(request) -> str:
    return f"{reverse('portal:sign_in')}?{urlencode({'next': request.get_full_path()})}"


def contact_required(view):
    """The view runs for a signed-in contact (or an agent's preview), with `request.visitor`;
    anyone else goes to the sign-in page and comes back after. A disabled portal is a 404."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        from portal.selectors import require_portal_enabled

        require_portal_enabled(request)
        found = visitor(request)
        if found is None:
            return redirect(sign_in_url(request))
        request.visitor = found
        return view(request, *args, **kwargs)

    return wrapped
