"""A rule's conditions (the shapes of automations.schema): compiled once into a Matcher that
decides on Facts with set and dict lookups, and validated for the settings page against
this tenant's rows. automations.prefilter turns what SQL can decide of them into a filter.

Words: every word of a condition is folded like the text (facts.fold); a plain word is a
member of the text's set of words, and the others (phrases, "e-mail", "c++") go into one
regular expression of escaped literals per condition, whole-word (no letter, digit or mark on
either side), searched only when the text has every word they contain. The `regex` module, as
for the text's words: its \\w is Unicode's, so marks belong to their word.

A condition that does not compile (a rule saved before a check existed, or edited by hand)
never holds, and says so in the facts' notes: a rule must not fire on what it cannot read.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter, methodcaller
from typing import Any

import regex
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from automations import safe_regex
from automations.facts import WORD, Facts, fold, words_of
from automations.schema import (
    CONDITION_OPS,
    MAX_CONDITIONS,
    MAX_WORDS,
    NO_VALUE_OPS,
    PATTERN_OPS,
    VALUE_KIND,
    Actor,
    Field,
    Op,
)
from tenants.models import Membership, Organization, Team
from tickets.models import (
    Customer,
    Priority,
    Status,
    StatusCategory,
    Ticket,
)
from tickets.services.tags import MAX_TAG_LENGTH

logger = logging.getLogger(__name__)

MAX_WORD_LENGTH = 100
GROUPS = (("all", "All of these"), ("any", "Any of these"))
CHOICES: dict[str, frozenset[str]] = {
    Field.STATUS_CATEGORY: frozenset(StatusCategory.values),
    Field.SOURCE: frozenset(Ticket.Source.values),
    Field.ACTOR: frozenset(Actor.values),
}
_DOMAIN = regex.compile(r"(?:[\w-]+\.)+[\w-]{2,}")

Check = Callable[[Facts], bool]
Builder = Callable[[str, Any, str], tuple[Check, int]]  # (op, value, rule name) -> check, cost


class ConditionError(ValueError):
    """A condition that cannot be compiled; the message says why, for the rule's author."""


# -- the matcher -----------------------------------------------------------------------------


class Matcher:
    """The compiled conditions of one rule: `matches(facts)` holds when every "all" check
    holds and, when there are "any" checks, one of those. Cheap checks run first."""

    __slots__ = ("_all", "_any", "name", "problems")

    def __init__(self, all_checks: list[Check], any_checks: list[Check], *, name: str = ""):
        self._all = tuple(all_checks)
        self._any = tuple(any_checks)
        self.name = name
        self.problems: list[str] = []

    def matches(self, facts: Facts) -> bool:
        """Never raises: a check that fails unexpectedly counts as not holding (logged)."""
        try:
            for check in self._all:
                if not check(facts):
                    return False
            if not self._any:
                return True
            return any(check(facts) for check in self._any)
        except Exception:
            logger.exception(
                "conditions of rule %r failed on ticket %s", self.name, facts.ticket.pk
            )
            facts.notes.append(f"The conditions of “{self.name}” could not be evaluated.")
            return False


def compile_conditions(conditions: Any, *, name: str = "") -> Matcher:
    """The Matcher of a rule's conditions (pure: no query). `name` (the rule's) goes into the
    notes a check leaves. A malformed condition compiles to one that never holds, its reason
    in `Matcher.problems` and, when evaluated, in the facts' notes."""
    rows, shape = condition_rows(conditions)
    checks: dict[str, list[tuple[int, Check]]] = {"all": [], "any": []}
    problems = [str(p) for p in shape]
    for group, position, condition in rows:
        try:
            check, cost = compile_one(condition, name)
        except ConditionError as exc:
            problems.append(str(Problem(group, position, str(exc))))
            continue
        checks[group].append((cost, check))
    if problems:  # a rule must not fire on what it cannot read
        checks["all"].insert(0, (0, _never(problems)))
    matcher = Matcher(
        [check for _, check in sorted(checks["all"], key=lambda pair: pair[0])],
        [check for _, check in sorted(checks["any"], key=lambda pair: pair[0])],
        name=name,
    )
    matcher.problems = problems
    return matcher


@dataclass(frozen=True)
class Problem:
    """What is wrong with one condition (group "all" / "any" and its 1-based position; 0 for
    the group or the whole), for the editor to show beside the row."""

    group: str
    position: int
    message: str

    def __str__(self) -> str:
        label = dict(GROUPS)[self.group]
        where = f"{label}, condition {self.position}" if self.position else label
        return f"{where}: {self.message}"


def condition_rows(conditions: Any) -> tuple[list[tuple[str, int, Any]], list[Problem]]:
    """Each condition with its group and 1-based position, and what is wrong with the shape."""
    if conditions is None or conditions == {}:
        return [], []
    if not isinstance(conditions, dict) or set(conditions) - {"all", "any"}:
        return [], [Problem("all", 0, "the conditions are malformed.")]
    rows: list[tuple[str, int, Any]] = []
    problems = []
    for group, _ in GROUPS:
        listed = conditions.get(group) or []
        if isinstance(listed, list):
            rows += [(group, n, condition) for n, condition in enumerate(listed, start=1)]
        else:
            problems.append(Problem(group, 0, "the conditions are malformed."))
    return rows, problems


def _never(problems: list[str]) -> Check:
    def check(facts: Facts) -> bool:
        facts.notes.extend(problems)
        return False

    return check


def compile_one(condition: Any, rule_name: str) -> tuple[Check, int]:
    """One condition's check and its cost rank (0 reads a column, 1 a loaded set, 2 may ask
    the database once per tenant, 3 and up search text)."""
    if not isinstance(condition, dict):
        raise ConditionError("the condition is malformed.")
    field, op = condition.get("field"), condition.get("op")
    if field not in CONDITION_OPS:
        raise ConditionError("choose what the condition looks at.")
    if op not in CONDITION_OPS[field]:
        raise ConditionError(f"“{Field(field).label}” cannot be compared that way.")
    value = _value(field, op, condition.get("value"))
    return _BUILDERS[field](op, value, rule_name)


# -- values ----------------------------------------------------------------------------------


def _value(field: str, op: str, value: Any) -> Any:
    """The value in the kind the field takes, or ConditionError."""
    if op in NO_VALUE_OPS:
        return None
    if op in PATTERN_OPS:
        if not isinstance(value, str):
            raise ConditionError("enter a regular expression.")
        try:
            return safe_regex.compile_pattern(value)
        except safe_regex.PatternError as exc:
            raise ConditionError(_sentence(exc.message)) from None
    kind = VALUE_KIND[field]
    if not isinstance(value, list) or not value:
        raise ConditionError("choose at least one value." if kind != "words" else "enter a word.")
    if kind == "ids":
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConditionError("the values are malformed.")
        if op in (Op.AT_LEAST, Op.AT_MOST) and len(value) != 1:
            raise ConditionError("choose one priority to compare with.")
        return frozenset(value)
    if not all(isinstance(v, str) for v in value):
        raise ConditionError("the values are malformed.")
    return _TEXT_VALUES[kind](field, value)


def _sentence(message: str) -> str:
    return message[:1].lower() + message[1:]


def _choices(field: str, value: list[str]) -> frozenset[str]:
    unknown = [v for v in value if v not in CHOICES[field]]
    if unknown:
        raise ConditionError(f"“{unknown[0]}” is not one of the choices.")
    return frozenset(value)


def _strings(field: str, value: list[str]) -> frozenset[str]:
    cleaned = [v.strip() for v in value]
    if field == Field.REQUESTER_EMAIL:
        for address in cleaned:
            try:
                validate_email(address)
            except ValidationError:
                raise ConditionError(f"“{address}” is not an email address.") from None
        return frozenset(v.lower() for v in cleaned)
    if field == Field.REQUESTER_DOMAIN:
        domains = [v.removeprefix("@").lower() for v in cleaned]
        for domain in domains:
            if not _DOMAIN.fullmatch(domain):
                raise ConditionError(f"“{domain}” is not a domain (like example.com).")
        return frozenset(domains)
    for name in cleaned:  # tags
        if not name or "," in name or len(name) > MAX_TAG_LENGTH:
            raise ConditionError(
                f"“{name}” is not a tag name (at most {MAX_TAG_LENGTH} characters, no commas)."
            )
    return frozenset(v.casefold() for v in cleaned)


def _words(field: str, value: list[str]) -> "_WordSet":
    if len(value) > MAX_WORDS:
        raise ConditionError(f"enter at most {MAX_WORDS} words or phrases.")
    for word in value:
        if not word.strip():
            raise ConditionError("a word is empty.")
        if len(word) > MAX_WORD_LENGTH:
            raise ConditionError(f"a word or phrase may have at most {MAX_WORD_LENGTH} characters.")
    return _WordSet.of(value)


_TEXT_VALUES: dict[str, Callable[[str, list[str]], Any]] = {
    "choices": _choices,
    "strings": _strings,
    "words": _words,
}


@dataclass(frozen=True)
class _WordSet:
    """The words of one condition: plain ones as a set, the rest in one expression."""

    plain: frozenset[str]
    others: regex.Pattern | None
    # The plain words each of the others contains: the text must have all of one's first.
    needs: tuple[frozenset[str], ...]

    @classmethod
    def of(cls, words: list[str]) -> "_WordSet":
        plain: set[str] = set()
        others: dict[str, frozenset[str]] = {}
        for word in words:
            parts = fold(word).split()
            if len(parts) == 1 and WORD.fullmatch(parts[0]):
                plain.add(parts[0])
            elif parts:
                others[r"\s+".join(regex.escape(p) for p in parts)] = words_of(" ".join(parts))
        if not others:
            return cls(frozenset(plain), None, ())
        # Longest first, so that "billing" does not end the alternation before "billing team".
        alternatives = "|".join(sorted(others, key=len, reverse=True))
        pattern = regex.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", regex.VERSION0)
        return cls(frozenset(plain), pattern, tuple(set(others.values())))

    def found(self, folded: str, words: frozenset[str]) -> bool:
        if not self.plain.isdisjoint(words):
            return True
        if self.others is None or not any(need <= words for need in self.needs):
            return False
        return self.others.search(folded) is not None


# -- checks per field ------------------------------------------------------------------------


def _membership(get: Callable[[Facts], Any], op: str, value: Any) -> Check:
    if op == Op.IS:
        return lambda f: get(f) in value
    if op == Op.IS_NOT:
        return lambda f: get(f) not in value
    if op == Op.IS_SET:
        return lambda f: get(f) is not None
    return lambda f: get(f) is None  # IS_NOT_SET


def _column(attr: str, cost: int = 0) -> Builder:
    """A check of a ticket column (`ticket.team_id`) or of a fact (`actor`)."""
    get = attrgetter(attr)
    return lambda op, value, rule_name: (_membership(get, op, value), cost)


def _flag(get: Callable[[Facts], bool], yes: str, cost: int) -> Builder:
    """A yes/no fact: collaborators present, within business hours."""

    def build(op: str, value: None, rule_name: str) -> tuple[Check, int]:
        return ((lambda f: get(f)) if op == yes else (lambda f: not get(f))), cost

    return build


def _priority(op: str, value: Any, rule_name: str) -> tuple[Check, int]:
    if op in (Op.IS, Op.IS_NOT):
        return _membership(attrgetter("ticket.priority_id"), op, value), 0
    (other,) = value
    at_least = op == Op.AT_LEAST

    def check(f: Facts) -> bool:
        mine, theirs = f.priority_rank(f.ticket.priority_id), f.priority_rank(other)
        if mine is None or theirs is None:
            return False  # the priority no longer exists: nothing is above or below it
        return mine >= theirs if at_least else mine <= theirs

    return check, 2


def _tags(op: str, value: frozenset[str], rule_name: str) -> tuple[Check, int]:
    checks: dict[str, Check] = {
        Op.HAS_ANY: lambda f: not value.isdisjoint(f.tag_names),
        Op.HAS_ALL: lambda f: value <= f.tag_names,
        Op.HAS_NONE: lambda f: value.isdisjoint(f.tag_names),
    }
    return checks[op], 1


def _text(folded: str, words: str, raw: str, label: str, cost: int) -> Builder:
    get_folded, get_words, get_raw = attrgetter(folded), attrgetter(words), attrgetter(raw)

    def build(op: str, value: Any, rule_name: str) -> tuple[Check, int]:
        if op in (Op.CONTAINS_ANY, Op.CONTAINS_NONE):
            wanted = op == Op.CONTAINS_ANY
            return (lambda f: value.found(get_folded(f), get_words(f)) == wanted), cost
        return _pattern(value, op == Op.MATCHES, get_raw, label, rule_name), cost + 2

    return build


def _pattern(pattern, wanted: bool, get_raw, label: str, rule_name: str) -> Check:
    in_rule = f" in “{rule_name}”" if rule_name else ""

    def check(f: Facts) -> bool:
        # Not holding either way when the text could not be read: a rule must not fire on it.
        if f.lookups.pattern_seconds_left <= 0:
            f.notes.append(
                f"The pattern “{pattern.pattern}” on the {label}{in_rule} was not tried: the "
                "patterns ran out of time on this event; the condition counts as not holding."
            )
            return False
        started = time.perf_counter()
        try:
            return safe_regex.search(pattern, get_raw(f)) == wanted
        except safe_regex.PatternTimeout:
            f.notes.append(
                f"The pattern “{pattern.pattern}” on the {label}{in_rule} took too long; "
                "the condition counts as not holding."
            )
            return False
        finally:
            f.lookups.pattern_seconds_left -= time.perf_counter() - started

    return check


_BUILDERS: dict[str, Builder] = {
    Field.STATUS: _column("ticket.status_id"),
    Field.STATUS_CATEGORY: _column("ticket.status_category"),
    Field.PRIORITY: _priority,
    Field.TEAM: _column("ticket.team_id"),
    Field.ASSIGNEE: _column("ticket.assignee_id"),
    Field.SOURCE: _column("ticket.source"),
    Field.CUSTOMER: _column("ticket.customer_id"),
    Field.REQUESTER_EMAIL: _column("requester_email", 1),
    Field.REQUESTER_DOMAIN: _column("requester_domain", 1),
    Field.TAGS: _tags,
    Field.COLLABORATORS: _flag(attrgetter("has_collaborators"), Op.IS_SET, 1),
    Field.SUBJECT: _text("subject_folded", "subject_words", "ticket.subject", "subject", 3),
    Field.COMMENT_TEXT: _text(
        "comment_folded", "comment_words", "comment_text", "new comment's text", 4
    ),
    Field.BUSINESS_HOURS: _flag(methodcaller("within_business_hours"), Op.WITHIN, 2),
    Field.ACTOR: _column("actor"),  # a fact of the event
}


# -- validation ------------------------------------------------------------------------------


# field -> what it names, one and many, and what is wrong with one and with many of them
_REFERENCES: dict[str, tuple[str, str, str, str]] = {
    Field.STATUS: ("status", "statuses", "no longer exists", "no longer exist"),
    Field.PRIORITY: ("priority", "priorities", "no longer exists", "no longer exist"),
    Field.TEAM: ("team", "teams", "no longer exists", "no longer exist"),
    Field.ASSIGNEE: ("agent", "agents", "is no longer a member here", "are no longer members here"),
    Field.CUSTOMER: ("customer", "customers", "no longer exists", "no longer exist"),
}
_TEXT_TRIGGERS = ("comment_added", "ticket_created")


def validate_conditions(
    conditions: Any, *, organization: Organization, trigger: str | None = None
) -> list[str]:
    """Human messages, e.g. 'All of these, condition 2: the status it names no longer
    exists.'; empty when the conditions are fine. See condition_problems."""
    return [
        str(p) for p in condition_problems(conditions, organization=organization, trigger=trigger)
    ]


def condition_problems(
    conditions: Any, *, organization: Organization, trigger: str | None = None
) -> list[Problem]:
    """Shape, field and operator pairs, value kinds, words and patterns (as compiling them
    finds), then the ids each condition names, asked of this tenant in one query per kind.
    With `trigger`, a text condition no event of it carries is pointed out too."""
    rows, problems = condition_rows(conditions)
    valid: list[tuple[str, int, dict]] = []
    for group, position, condition in rows:
        try:
            compile_one(condition, "")
        except ConditionError as exc:
            problems.append(Problem(group, position, str(exc)))
            continue
        valid.append((group, position, condition))
    if len(rows) > MAX_CONDITIONS:
        problems.append(Problem("all", 0, f"a rule may have at most {MAX_CONDITIONS} conditions."))
    problems += _reference_problems(valid, organization)
    if trigger is not None and trigger not in _TEXT_TRIGGERS:
        problems += [
            Problem(
                group,
                position,
                "the new comment's text is empty unless the trigger is "
                "“Comment added” or “Ticket created”.",
            )
            for group, position, condition in valid
            if condition["field"] == Field.COMMENT_TEXT
        ]
    return sorted(problems, key=lambda p: (p.group != "all", p.position))


def _reference_problems(
    rows: list[tuple[str, int, dict]], organization: Organization
) -> list[Problem]:
    named: dict[str, set[int]] = {}
    for _, _, condition in rows:
        if condition["field"] in _REFERENCES and condition.get("value"):
            named.setdefault(condition["field"], set()).update(condition["value"])
    existing = {field: existing_ids(field, ids, organization) for field, ids in named.items()}
    problems = []
    for group, position, condition in rows:
        found = existing.get(condition["field"])
        if found is None:
            continue
        missing = set(condition["value"]) - found
        if missing:
            problems.append(
                Problem(
                    group,
                    position,
                    missing_message(condition["field"], len(missing), len(set(condition["value"]))),
                )
            )
    return problems


def missing_message(field: str, missing: int, named: int) -> str:
    """'the status it names no longer exists.' / '2 of the teams it names no longer exist.'"""
    one, many, singular, plural = _REFERENCES[field]
    if named == 1:
        return f"the {one} it names {singular}."
    return f"{missing} of the {many} it names {singular if missing == 1 else plural}."


def existing_ids(field: str, ids: set[int], organization: Organization) -> set[int]:
    """Which of these ids name rows of this tenant (statuses, priorities, teams, customers;
    for agents, users who are members): one query."""
    if field == Field.ASSIGNEE:
        rows = Membership.objects.filter(organization=organization, user_id__in=ids)
        return set(rows.values_list("user_id", flat=True))
    models: dict[str, type[Status | Priority | Team | Customer]] = {
        Field.STATUS: Status,
        Field.PRIORITY: Priority,
        Field.TEAM: Team,
        Field.CUSTOMER: Customer,
    }
    model = models[field]
    return set(
        model.objects.filter(organization=organization, pk__in=ids).values_list("pk", flat=True)
    )
