"""Limits on guessing, kept in the cache: failed attempts are counted per account and per client
address, and past a limit that account or address is locked for a time that doubles with each
lock. Used by the sign-in forms, password-reset requests and the portal's sign-in links
(MAGIC_LINK); API tokens will take a Policy of their own.

Accounts are counted by the name that was typed, whether or not such an account exists, so a
lock says nothing about which accounts exist."""

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True)
class Policy:
    name: str
    message: str  # "{wait}" becomes "5 minutes"
    per_account: int  # failures of one account (from any address) before it locks
    per_address: int  # failures from one address (for any accounts) before it locks
    window: int = 15 * 60  # seconds a failure counts
    first_lock: int = 60  # seconds; doubles with each further lock while strikes are remembered
    max_lock: int = 60 * 60
    strikes_kept: int = 24 * 60 * 60


SIGN_IN = Policy(
    name="sign-in",
    message="Too many failed sign-ins; try again in {wait}.",
    per_account=5,
    per_address=20,
)
PASSWORD_RESET = Policy(
    name="password-reset",
    message="Too many password reset requests; try again in {wait}.",
    per_account=3,
    per_address=10,
)
# Portal sign-in links (portal.services.auth): every request counts, sent or not, so the limit
# says nothing about which addresses are contacts. The account is the tenant and the address
# typed: one person who is a contact of two tenants has a limit on each.
MAGIC_LINK = Policy(
    name="magic-link",
    message="Too many sign-in links were asked for; wait {wait} and try again.",
    per_account=3,
    per_address=10,
)


class Throttled(Exception):
    def __init__(self, policy: Policy, seconds: float):
        self.seconds = max(1, math.ceil(seconds))
        minutes = math.ceil(self.seconds / 60)
        super().__init__(policy.message.format(wait=f"{minutes} minute{'s' * (minutes != 1)}"))


def client_address(request) -> str | None:
    """REMOTE_ADDR; behind TRUSTED_PROXY_HOPS proxies, the address the outermost of them saw
    (X-Forwarded-For is anyone's to write, so only the entries our proxies appended count)."""
    if request is None:
        return None
    hops = settings.TRUSTED_PROXY_HOPS
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if hops and len([a for a in forwarded if a]) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR") or None


def _counters(policy: Policy, account: str | None, address: str | None) -> list[tuple[str, int]]:
    """(cache key, limit) for the account and the address; hashed, so any text is a valid key."""
    counters = []
    if account:
        counters.append(("account", account.strip().lower(), policy.per_account))
    if address:
        counters.append(("address", address, policy.per_address))
    return [
        (f"throttle:{policy.name}:{kind}:{hashlib.sha256(value.encode()).hexdigest()}", limit)
        for kind, value, limit in counters
    ]


def check(policy: Policy, *, account: str | None, address: str | None) -> None:
    """Raise Throttled while the account or the address is locked."""
    keys = [key + ":lock" for key, _ in _counters(policy, account, address)]
    until = max((cache.get(key) or 0 for key in keys), default=0)
    if until > time.time():
        raise Throttled(policy, until - time.time())


def fail(policy: Policy, *, account: str | None, address: str | None) -> None:
    """Count a failure; the account or address that reaches its limit is locked."""
    for key, limit in _counters(policy, account, address):
        cache.add(key, 0, policy.window)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, count := 1, policy.window)
        if count >= limit:
            _lock(policy, key)


def _lock(policy: Policy, key: str) -> None:
    cache.add(key + ":strikes", 0, policy.strikes_kept)
    strikes = cache.incr(key + ":strikes")
    seconds = min(policy.first_lock * 2 ** (strikes - 1), policy.max_lock)
    cache.set(key + ":lock", time.time() + seconds, seconds)
    cache.delete(key)


def succeed(policy: Policy, *, account: str | None) -> None:
    """The account's failures are forgotten (not its address's, nor its past locks)."""
    for key, _ in _counters(policy, account, None):
        cache.delete(key)


def attempt(policy: Policy, *, account: str | None, address: str | None) -> None:
    """For requests limited however they end (password-reset mail): check, then count."""
    check(policy, account=account, address=address)
    fail(policy, account=account, address=address)
