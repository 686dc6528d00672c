"""The automations part of seed_demo: acme's rules, one for each capability the product brief
names (route billing words to the Billing team round-robin, raise the priority of "urgent" from a
known customer, tell the team's managers about an SLA warning, remind the requester of a ticket
pending for 72 hours), and two shared macros. globex gets none. One ticket has waited in Pending
for three days, so the reminder goes out at the first time scan after seeding.

Rules and macros are in the JSON shapes of automations.schema, built from this tenant's ids, and
saved through the settings pages' services.
Idempotent: a rule or macro that exists by name is left as it is (an admin may have edited it).
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from automations import settings_services
from automations.models import Macro, Rule, Trigger
from automations.schema import ActionType, AssignMode, Field, NotifyTarget, Op
from automations.services import macros
from tenants.models import Membership, Organization, Team
from tickets.models import Priority, Status, Ticket
from tickets.services.comments import comment_create
from tickets.services.contacts import contact_get_or_create
from tickets.services.tickets import ticket_assign, ticket_change_status, ticket_create

# Subject words that mean money; whole words, case-insensitive (automations.conditions).
BILLING_WORDS = ["invoice", "refund", "billing", "payment", "VAT", "subscription", "charged"]
URGENT_WORDS = ["urgent"]
PENDING_SUBJECT = "Export settings for the data migration"
PENDING_HOURS = 73  # past the reminder rule's 72 hours


def demo_rules(org: Organization) -> list[dict]:
    """acme's rules as Rule field values, in the order they run."""
    billing = Team.objects.get(name="Billing")
    pending = Status.objects.get(name="Pending")
    urgent = Priority.objects.get(name="Urgent")
    return [
        {
            "name": "Route billing",
            "trigger": Trigger.TICKET_CREATED,
            "trigger_options": {"sources": []},
            "conditions": {
                "all": [],
                "any": [
                    _condition(Field.SUBJECT, Op.CONTAINS_ANY, BILLING_WORDS),
                    _condition(Field.COMMENT_TEXT, Op.CONTAINS_ANY, BILLING_WORDS),
                ],
            },
            "actions": [
                {"type": ActionType.SET_TEAM, "team_id": billing.pk},
                {"type": ActionType.ASSIGN, "mode": AssignMode.ROUND_ROBIN, "team_id": billing.pk},
                {"type": ActionType.ADD_TAGS, "names": ["billing"]},
            ],
        },
        {
            "name": "Urgent from a known customer",
            "trigger": Trigger.TICKET_CREATED,
            "trigger_options": {"sources": []},
            "conditions": {
                "all": [
                    _condition(Field.CUSTOMER, Op.IS_SET),
                    _condition(Field.PRIORITY, Op.IS_NOT, [urgent.pk]),
                ],
                "any": [
                    _condition(Field.SUBJECT, Op.CONTAINS_ANY, URGENT_WORDS),
                    _condition(Field.COMMENT_TEXT, Op.CONTAINS_ANY, URGENT_WORDS),
                ],
            },
            "actions": [
                {"type": ActionType.SET_PRIORITY, "priority_id": urgent.pk},
                {"type": ActionType.ADD_TAGS, "names": ["urgent"]},
            ],
        },
        {
            "name": "SLA warning: tell the team's managers",
            "trigger": Trigger.SLA_WARNING,
            "trigger_options": {"targets": []},
            "conditions": {"all": [_condition(Field.TEAM, Op.IS_SET)], "any": []},
            "actions": [
                {
                    "type": ActionType.NOTIFY,
                    "target": NotifyTarget.TEAM_MANAGERS,
                    "team_id": None,  # the ticket's team when the warning comes
                    "message": (
                        "Ticket #{{ ticket_number }} “{{ ticket_subject }}” "
                        "({{ ticket_priority }}) is close to its SLA target. "
                        "Assignee: {{ assignee_name|default:'nobody' }}."
                    ),
                }
            ],
        },
        {
            "name": "Pending for 72 hours: remind the requester",
            "trigger": Trigger.HOURS_IN_STATUS,
            "trigger_options": {"hours": 72, "status_id": pending.pk},
            "conditions": {"all": [], "any": []},
            "actions": [
                {
                    "type": ActionType.MAIL_REQUESTER,
                    "subject": "Any news on “{{ ticket_subject }}”?",
                    "body": (
                        "Hi {{ requester_name }},\n\n"
                        "we are still waiting for your answer on ticket #{{ ticket_number }}, "
                        "“{{ ticket_subject }}”. Just reply to this mail and we will pick "
                        "it up again.\n\n{{ organization_name }}"
                    ),
                }
            ],
        },
    ]


def demo_macros(org: Organization) -> list[dict]:
    """acme's shared macros as Macro field values."""
    billing = Team.objects.get(name="Billing")
    pending = Status.objects.get(name="Pending")
    resolved = Status.objects.get(name="Resolved")
    return [
        {
            "name": "Refund issued",
            "actions": [
                {"type": ActionType.SET_TEAM, "team_id": billing.pk},
                {"type": ActionType.ADD_TAGS, "names": ["refund"]},
                {"type": ActionType.SET_STATUS, "status_id": resolved.pk},
            ],
            "reply_text": (
                "Hi {{ requester_name }},\n\nwe have issued the refund for ticket "
                "#{{ ticket_number }}. It shows on your statement within five business "
                "days.\n\nBest regards,\n{{ agent_name }}"
            ),
            "reply_public": True,
        },
        {
            "name": "Ask for details",
            "actions": [
                {"type": ActionType.ADD_TAGS, "names": ["needs details"]},
                {"type": ActionType.SET_STATUS, "status_id": pending.pk},
            ],
            "reply_text": (
                "Hi {{ requester_name }},\n\nto look into “{{ ticket_subject }}” we need a "
                "little more: the steps that lead to it, the time it happened and a "
                "screenshot if you have one.\n\nThanks,\n{{ agent_name }}"
            ),
            "reply_public": True,
        },
    ]


def seed_automations(org: Organization) -> None:
    """acme's demo rules and macros through the settings pages' services (a new one goes last;
    saving a rule drops the workers' cached rules), each created once by name."""
    existing_rules = set(Rule.objects.values_list("name", flat=True))
    for values in demo_rules(org):
        if values["name"] not in existing_rules:
            settings_services.rule_save(
                organization=org,
                rule=None,
                actor_user=None,
                enabled=True,
                stop_processing=False,
                **values,
            )
    existing_macros = set(Macro.objects.filter(owner=None).values_list("name", flat=True))
    for values in demo_macros(org):
        if values["name"] not in existing_macros:
            macros.macro_save(organization=org, macro=None, owner=None, **values)


@transaction.atomic
def seed_pending_ticket(org: Organization) -> None:
    """A ticket an agent asked a question on PENDING_HOURS ago, Pending since (created once)."""
    if Ticket.objects.filter(subject=PENDING_SUBJECT).exists():
        return
    asked = timezone.now() - timedelta(hours=PENDING_HOURS)
    requester = contact_get_or_create(
        organization=org, email="dev@northwind.example", name="Dev Patel"
    )
    agent = Membership.objects.get(user__email="agent@acme.test").user
    ticket = ticket_create(
        organization=org,
        subject=PENDING_SUBJECT,
        requester=requester,
        body_text="Hi,\n\nwhich settings do you need for the migration of our data?\n\nDev",
        source="email",
        created_at=asked - timedelta(hours=2),
    )
    ticket_assign(ticket=ticket, assignee=agent)
    comment_create(
        ticket=ticket,
        author_user=agent,
        body_text="Hi Dev, could you send us the export settings you use today?",
        is_public=True,
    )
    ticket_change_status(ticket=ticket, status=Status.objects.get(name="Pending"), actor_user=agent)
    # The services stamp their clocks with now; the demo's story happened three days ago.
    Ticket.objects.filter(pk=ticket.pk).update(
        status_changed_at=asked,
        last_agent_reply_at=asked,
        last_customer_message_at=asked - timedelta(hours=2),
        last_activity_at=asked,
        updated_at=asked,
        first_response_at=asked,
    )
    ticket.comments.filter(author_user=agent).update(created_at=asked)


def _condition(field: str, op: str, value: list | None = None) -> dict:
    return {"field": field, "op": op, "value": value}
