"""Every change to the record of signed-in browsers (UserSession): recorded at sign-in, touched
as the browser is used, ended by its owner, by removal from the tenant, or by a new password.

Ending a session deletes it from the session store (SESSION_ENGINE), so the cookie signs in
nobody from the next request on, and deletes its row. A session cookie is bound to the host
that set it, so a row belongs to the tenant of that host.
"""

from contextvars import ContextVar
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone
from django_scopes import scopes_disabled

from tenants.models import Organization, User, UserSession

# How often a request writes the session's last-seen time: at most once a minute, so that a
# busy agent's requests cost no write each.
TOUCH_INTERVAL = timedelta(minutes=1)
_SEEN_KEY = "_tenants_seen_at"
USER_AGENT_LENGTH = 300

# The session key of the request being served (set by SessionActivityMiddleware): a new password
# ends every session of the user but this one, the one that changed it.
current_session_key: ContextVar[str | None] = ContextVar("current_session_key", default=None)


def _store(session_key: str | None = None) -> SessionBase:
    engine = import_module(settings.SESSION_ENGINE)
    return engine.SessionStore(session_key)


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _user_agent(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_LENGTH]


def user_session_record(*, request, user: User) -> UserSession | None:
    """Remember the session a sign-in on a tenant's host just started (its key already rotated
    by django.contrib.auth.login)."""
    organization = getattr(request, "organization", None)
    session_key = request.session.session_key
    if organization is None or not session_key:
        return None  # the platform host, or a login() without a request (tests' force_login)
    now = timezone.now()
    row, _ = UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={
            "organization": organization,
            "user": user,
            "user_agent": _user_agent(request),
            "ip": client_ip(request),
            "created_at": now,
            "last_seen_at": now,
        },
    )
    request.session[_SEEN_KEY] = now.timestamp()
    return row


def user_session_touch(*, request) -> None:
    """Note that this session was used, at most once a TOUCH_INTERVAL. Only sessions signed in
    on a tenant's host carry the time of their last note (and have a row): any other costs
    nothing here."""
    seen = request.session.get(_SEEN_KEY)
    now = timezone.now()
    if not isinstance(seen, (int, float)):
        return
    if now.timestamp() - seen < TOUCH_INTERVAL.total_seconds():
        return
    UserSession.objects.filter(session_key=request.session.session_key).update(
        last_seen_at=now, ip=client_ip(request)
    )
    request.session[_SEEN_KEY] = now.timestamp()


def user_session_rekey(*, old_key: str, new_key: str) -> None:
    """The session kept its data under a new key (django.contrib.auth's cycle_key, as after
    update_session_auth_hash): its row follows."""
    UserSession.objects.filter(session_key=old_key).update(session_key=new_key)


def user_session_forget(*, request) -> None:
    """Sign-out: the store forgets the session itself (logout flushes it); the row goes here."""
    session_key = getattr(request, "session", None) and request.session.session_key
    if session_key and getattr(request, "organization", None) is not None:
        UserSession.objects.filter(session_key=session_key).delete()


def _end(rows) -> int:
    keys = [row.session_key for row in rows]
    for key in keys:
        _store().delete(key)
    UserSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


def user_session_end(*, session: UserSession) -> None:
    """End one session: signed out from its next request on."""
    _end([session])


def user_sessions_end_others(*, user: User, keep_key: str | None) -> int:
    """End every session of `user` on this tenant but `keep_key`; returns how many ended."""
    return _end(list(UserSession.objects.filter(user=user).exclude(session_key=keep_key or "")))


def user_sessions_end_for_member(*, organization: Organization, user: User) -> int:
    """The user left this tenant: every session of theirs on its host ends now."""
    return _end(list(UserSession.objects.filter(organization=organization, user=user)))


def user_sessions_end_everywhere(*, user: User, keep_key: str | None = None) -> int:
    """A new password: every session of the user on every tenant ends but `keep_key`."""
    with scopes_disabled():  # a password is the user's, not a tenant's; the query names the user
        rows = list(UserSession.objects.filter(user=user).exclude(session_key=keep_key or ""))
        return _end(rows)


def user_sessions_live(*, user: User) -> list[UserSession]:
    """The user's sessions on this tenant whose store entry still exists, newest first; rows
    of sessions that expired or that Django flushed are dropped on the way."""
    rows = list(UserSession.objects.filter(user=user).order_by("-last_seen_at", "-pk"))
    dead = [row.pk for row in rows if not _store().exists(row.session_key)]
    if dead:
        UserSession.objects.filter(pk__in=dead).delete()
    return [row for row in rows if row.pk not in dead]


class EndSessionsOnPasswordChange:
    """An AUTH_PASSWORD_VALIDATORS entry for its `password_changed` hook, which Django calls
    whenever a user's new password is saved (reset, change form, admin, manage.py
    changepassword): every other session of that user ends at once instead of at its next
    request (Django's session hash check)."""

    def validate(self, password, user=None) -> None:
        return None

    def password_changed(self, password, user=None) -> None:
        if user is not None and user.pk is not None:
            user_sessions_end_everywhere(user=user, keep_key=current_session_key.get())

    def get_help_text(self) -> str:
        return ""
