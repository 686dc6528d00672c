"""The spam list: senders and domains whose mail is rejected, and marking a ticket as spam."""

from django.db import transaction

from inbound_mail.models import SpamRule
from tenants.models import Organization, User
from tickets.models import StatusCategory, Ticket
from tickets.services.defaults import default_status
from tickets.services.tickets import ticket_change_status


def spam_rule_add(
    *, organization: Organization, value: str, note: str = "", created_by: User | None = None
) -> SpamRule:
    """Reject mail from an address ("x@example.com") or a domain ("example.com")."""
    value = value.strip().lower().lstrip("@")
    kind = SpamRule.Kind.ADDRESS if "@" in value else SpamRule.Kind.DOMAIN
    rule, _ = SpamRule.objects.get_or_create(
        organization=organization,
        value=value,
        defaults={"kind": kind, "note": note[:200], "created_by": created_by},
    )
    return rule


def spam_rule_remove(*, rule: SpamRule) -> None:
    rule.delete()


@transaction.atomic
def ticket_mark_spam(*, ticket: Ticket, actor_user: User) -> SpamRule:
    """The requester goes on the spam list and the ticket is closed."""
    rule = spam_rule_add(
        organization=ticket.organization,
        value=ticket.requester.email,
        note=f"marked as spam on ticket #{ticket.number}",
        created_by=actor_user,
    )
    ticket_change_status(
        ticket=ticket,
        status=default_status(StatusCategory.CLOSED),
        actor_user=actor_user,
    )
    return rule
