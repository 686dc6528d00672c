"""The JSON shapes of a rule's trigger options, conditions and actions, and of a macro's actions.
One place names every field, operator and action type with its label; the evaluator
(automations.conditions), the executor (automations.actions) and the settings form
(automations.forms) all read these tables.

Trigger options (Rule.trigger_options), by trigger; every key optional, an empty list is "any":
    ticket_created:   {"sources": ["email", "portal", "agent", "contact_form", "api"]}
    comment_added:    {"author": "any" | "customer" | "agent",
                       "visibility": "any" | "public" | "internal"}
    status_changed:   {"to_status_ids": [ids]}
    priority_changed: {"to_priority_ids": [ids]}
    assigned:         {"change": "any" | "assigned" | "unassigned"}
    sla_warning, sla_breached: {"targets": ["first_response", "next_response", "resolution"]}
    hours_*:          {"hours": int >= 1}; hours_in_status also {"status_id": id}

Conditions (Rule.conditions): {"all": [condition, ...], "any": [condition, ...]}. The rule
matches when every "all" condition holds and, if "any" is not empty, at least one of those.
A condition is {"field": <CONDITION_FIELDS key>, "op": <one of its ops>, "value": ...} where the
value's kind is the field's VALUE_KIND:
    ids:       list of ints (statuses, priorities, teams, agents' user ids, customers)
    choices:   list of strings out of the field's CHOICES
    words:     list of strings (whole words or phrases, case-insensitive)
    pattern:   one string, a regular expression (at most MAX_PATTERN_LENGTH characters)
    strings:   list of strings (addresses, domains, tag names; compared case-insensitively)
    none:      no value (is_set / is_not_set, within / outside)
Ops "contains_any"/"contains_none" take words, "matches"/"not_matches" take a pattern.

Actions (Rule.actions, Macro.actions): a list of {"type": <ACTION_TYPES key>, ...}:
    set_status          {"status_id": id}
    set_priority        {"priority_id": id}
    set_team            {"team_id": id | None}
    assign              {"mode": "user", "user_id": id} | {"mode": "unassign"}
                        | {"mode": "round_robin" | "least_loaded", "team_id": id | None}
                          (None: the ticket's team at the time)
    add_tags            {"names": [str]}
    remove_tags         {"names": [str]}
    add_collaborators   {"emails": [str]}
    add_note            {"body": template}                      internal note
    mail_requester      {"subject": template, "body": template} through the outbox
    notify              {"target": "user" | "assignee" | "team" | "team_managers",
                         "user_id": id (user), "team_id": id | None (team, team_managers;
                         None: the ticket's team), "message": template}
Templates use the canned-response placeholders ({{ requester_name }}, tickets.placeholders).
"""

from django.db import models

MAX_PATTERN_LENGTH = 300
MAX_WORDS = 50
MAX_CONDITIONS = 30
MAX_ACTIONS = 20
PATTERN_TIMEOUT_SECONDS = 0.05  # per evaluation; a pattern past it does not match (and is logged)
MAX_TEXT_SCANNED = 20_000  # characters of a subject or comment the text conditions read
MAX_CHAIN_DEPTH = 5  # an event this many automation steps from a person's runs no rules


class Field(models.TextChoices):
    STATUS = "status", "Status"
    STATUS_CATEGORY = "status_category", "Status category"
    PRIORITY = "priority", "Priority"
    TEAM = "team", "Team"
    ASSIGNEE = "assignee", "Assignee"
    SOURCE = "source", "Source"
    CUSTOMER = "customer", "Customer"
    REQUESTER_EMAIL = "requester_email", "Requester's email"
    REQUESTER_DOMAIN = "requester_domain", "Requester's domain"
    TAGS = "tags", "Tags"
    COLLABORATORS = "collaborators", "Collaborators"
    SUBJECT = "subject", "Subject"
    COMMENT_TEXT = "comment_text", "The new comment's text"
    BUSINESS_HOURS = "business_hours", "Business hours (default calendar)"
    ACTOR = "actor", "The event was made by"


class Op(models.TextChoices):
    IS = "is", "is"
    IS_NOT = "is_not", "is not"
    IS_SET = "is_set", "is set"
    IS_NOT_SET = "is_not_set", "is not set"
    AT_LEAST = "at_least", "is at least"
    AT_MOST = "at_most", "is at most"
    HAS_ANY = "has_any", "has any of"
    HAS_ALL = "has_all", "has all of"
    HAS_NONE = "has_none", "has none of"
    CONTAINS_ANY = "contains_any", "contains any of the words"
    CONTAINS_NONE = "contains_none", "contains none of the words"
    MATCHES = "matches", "matches the pattern"
    NOT_MATCHES = "not_matches", "does not match the pattern"
    WITHIN = "within", "within"
    OUTSIDE = "outside", "outside"


_TEXT_OPS = (Op.CONTAINS_ANY, Op.CONTAINS_NONE, Op.MATCHES, Op.NOT_MATCHES)
_REF_OPS = (Op.IS, Op.IS_NOT, Op.IS_SET, Op.IS_NOT_SET)

# field -> the operators it takes
CONDITION_OPS: dict[str, tuple[str, ...]] = {
    Field.STATUS: (Op.IS, Op.IS_NOT),
    Field.STATUS_CATEGORY: (Op.IS, Op.IS_NOT),
    Field.PRIORITY: (Op.IS, Op.IS_NOT, Op.AT_LEAST, Op.AT_MOST),
    Field.TEAM: _REF_OPS,
    Field.ASSIGNEE: _REF_OPS,
    Field.SOURCE: (Op.IS, Op.IS_NOT),
    Field.CUSTOMER: _REF_OPS,
    Field.REQUESTER_EMAIL: (Op.IS, Op.IS_NOT),
    Field.REQUESTER_DOMAIN: (Op.IS, Op.IS_NOT),
    Field.TAGS: (Op.HAS_ANY, Op.HAS_ALL, Op.HAS_NONE),
    Field.COLLABORATORS: (Op.IS_SET, Op.IS_NOT_SET),
    Field.SUBJECT: _TEXT_OPS,
    Field.COMMENT_TEXT: _TEXT_OPS,
    Field.BUSINESS_HOURS: (Op.WITHIN, Op.OUTSIDE),
    Field.ACTOR: (Op.IS, Op.IS_NOT),
}

# field -> the kind of value it takes (see the module docstring); AT_LEAST / AT_MOST on the
# priority take a list of one priority id (compared by rank).
VALUE_KIND: dict[str, str] = {
    Field.STATUS: "ids",
    Field.STATUS_CATEGORY: "choices",
    Field.PRIORITY: "ids",
    Field.TEAM: "ids",
    Field.ASSIGNEE: "ids",
    Field.SOURCE: "choices",
    Field.CUSTOMER: "ids",
    Field.REQUESTER_EMAIL: "strings",
    Field.REQUESTER_DOMAIN: "strings",
    Field.TAGS: "strings",
    Field.COLLABORATORS: "none",
    Field.SUBJECT: "words",  # "pattern" with MATCHES / NOT_MATCHES
    Field.COMMENT_TEXT: "words",
    Field.BUSINESS_HOURS: "none",
    Field.ACTOR: "choices",
}
NO_VALUE_OPS = (Op.IS_SET, Op.IS_NOT_SET, Op.WITHIN, Op.OUTSIDE)
PATTERN_OPS = (Op.MATCHES, Op.NOT_MATCHES)


class Actor(models.TextChoices):
    CUSTOMER = "customer", "a customer"
    AGENT = "agent", "an agent"
    AUTOMATION = "automation", "an automation"
    SYSTEM = "system", "the system (SLA clock, timers)"


# The fixed choices of "choices" fields (status categories come from tickets.StatusCategory,
# sources from tickets.Ticket.Source; the form fills them from there).
ACTOR_CHOICES = Actor.choices


class ActionType(models.TextChoices):
    SET_STATUS = "set_status", "Set status"
    SET_PRIORITY = "set_priority", "Set priority"
    SET_TEAM = "set_team", "Set team"
    ASSIGN = "assign", "Assign"
    ADD_TAGS = "add_tags", "Add tags"
    REMOVE_TAGS = "remove_tags", "Remove tags"
    ADD_COLLABORATORS = "add_collaborators", "Add collaborators"
    ADD_NOTE = "add_note", "Add an internal note"
    MAIL_REQUESTER = "mail_requester", "Mail the requester"
    NOTIFY = "notify", "Notify"


class AssignMode(models.TextChoices):
    USER = "user", "to an agent"
    ROUND_ROBIN = "round_robin", "round-robin within a team"
    LEAST_LOADED = "least_loaded", "to the least-loaded member of a team"
    UNASSIGN = "unassign", "nobody (unassign)"


class NotifyTarget(models.TextChoices):
    USER = "user", "an agent"
    ASSIGNEE = "assignee", "the assignee"
    TEAM = "team", "a team"
    TEAM_MANAGERS = "team_managers", "a team's managers"


# Macros take the same action kinds as rules.
MACRO_ACTION_TYPES = tuple(ActionType.values)
