"""Each tenant's enabled rules by trigger, with their conditions compiled, kept per worker
process: an event costs one cache read (the tenant's rules version) instead of loading and
compiling its rules again.

The version lives in Django's cache (Redis in production, shared by every process); `bump`
gives it a new value whenever a rule of the tenant is saved, reordered, enabled, disabled or
deleted, and each process reloads on its next event. A missing version (a cleared or evicted
cache) gets a new random value, so it can never match an entry loaded before. Entries also
expire after LOCAL_TTL_SECONDS, for a cache that is not shared between processes (local
memory, when no Redis is configured). Compiled conditions are kept by their JSON, so the
unchanged conditions of a reloaded tenant are not compiled again.
"""

import json
import logging
import time
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django_scopes import scopes_disabled

from automations.conditions import Matcher, compile_conditions
from automations.models import TIME_TRIGGERS, Rule

logger = logging.getLogger(__name__)

# `make run` on the embedded default has no shared cache: a rule saved in the web process
# reaches the worker within this many seconds (one rules query per process and period).
LOCAL_TTL_SECONDS = 5.0
MAX_COMPILED = 20_000  # compiled conditions kept per process before the store starts over


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    matcher: Matcher | None  # None: the conditions could not be compiled (`error` says why)
    error: str = ""


@dataclass(frozen=True)
class _Entry:
    version: str
    loaded_at: float
    by_trigger: dict[str, list[CompiledRule]]


_tenants: dict[int, _Entry] = {}
_matchers: dict[str, Matcher | str] = {}  # conditions' JSON -> a Matcher, or why it failed


def _key(organization_id: int) -> str:
    return f"automations:rules-version:{organization_id}"


def bump(organization_id: int) -> None:
    """Call after any change to the tenant's rules: every process reloads them."""
    cache.set(_key(organization_id), uuid.uuid4().hex, None)


def _version(organization_id: int) -> str:
    key = _key(organization_id)
    version = cache.get(key)
    if version is None:
        cache.add(key, uuid.uuid4().hex, None)  # add: two processes agree on one new value
        version = cache.get(key)
    return str(version)


def rules_for(*, organization_id: int, trigger: str) -> list[CompiledRule]:
    """The tenant's enabled rules of `trigger`, in order."""
    return tenant_rules(organization_id=organization_id).get(trigger, [])


def tenant_rules(*, organization_id: int) -> dict[str, list[CompiledRule]]:
    """The tenant's enabled rules by trigger, each list in order (one version read): what a
    batch of events is run against."""
    version = _version(organization_id)
    entry = _tenants.get(organization_id)
    now = time.monotonic()
    if entry is None or entry.version != version or now - entry.loaded_at > LOCAL_TTL_SECONDS:
        entry = _Entry(version, now, _load(organization_id))
        _tenants[organization_id] = entry
    return entry.by_trigger


def _load(organization_id: int) -> dict[str, list[CompiledRule]]:
    by_trigger: dict[str, list[CompiledRule]] = {}
    # The subscriber asks after commit, where no tenant may be active (the SLA scan commits
    # after leaving each tenant's scope); the tenant is named explicitly instead.
    with scopes_disabled():  # filtered by organization_id just below
        rules = list(
            Rule.objects.filter(organization_id=organization_id, enabled=True)
            .exclude(trigger__in=TIME_TRIGGERS)
            .order_by("position", "id")
        )
    for rule in rules:
        by_trigger.setdefault(rule.trigger, []).append(compiled(rule))
    return by_trigger


def compiled(rule: Rule) -> CompiledRule:
    """The rule with its conditions compiled (once per distinct conditions)."""
    key = f"{rule.name}\n{json.dumps(rule.conditions or {}, sort_keys=True)}"
    found = _matchers.get(key)
    if found is None:
        if len(_matchers) >= MAX_COMPILED:
            _matchers.clear()
        try:
            found = compile_conditions(rule.conditions or {}, name=rule.name)
        except Exception as exc:  # saved before a validation existed: it fails visibly
            logger.warning(
                "automations: the conditions of rule %s do not compile: %s", rule.pk, exc
            )
            found = f"The conditions could not be read: {exc}"
        _matchers[key] = found
    if isinstance(found, str):
        return CompiledRule(rule, None, found)
    return CompiledRule(rule, found)
