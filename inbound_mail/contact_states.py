"""The spam state on a contact's page (tickets.contact_states): mail from one of the contact's
addresses, or their domain, is rejected by the tenant's spam list."""

from inbound_mail import selectors
from inbound_mail.models import SpamRule
from tickets import contact_states


def spam_states(addresses: list[str]) -> list[contact_states.ContactState]:
    candidates = {value for address in addresses for value in selectors.spam_candidates(address)}
    rules = list(SpamRule.objects.filter(value__in=candidates).order_by("value"))
    return [
        contact_states.ContactState(
            "Spam",
            f"Mail from {rule.value} is rejected (spam list"
            + (f": {rule.note}" if rule.note else "")
            + ").",
        )
        for rule in rules
    ]


def connect() -> None:
    contact_states.register("inbound_mail.spam", spam_states)
