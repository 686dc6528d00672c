"""What the apps above tickets know about a contact, shown on the contact's page (inbound_mail:
the sender is on the spam list), without tickets importing them.

An app registers a provider in its AppConfig.ready(); the page asks each with the contact's
addresses (primary first) and shows every state returned. A provider makes at most one query.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ContactState:
    label: str  # short, shown as a badge: "Spam"
    detail: str  # one sentence: why, and where to change it


Provider = Callable[[list[str]], list[ContactState]]
_providers: dict[str, Provider] = {}


def register(name: str, provider: Provider) -> None:
    """Add or replace (by name) one app's provider."""
    _providers[name] = provider


def states_for(addresses: list[str]) -> list[ContactState]:
    return [state for provider in _providers.values() for state in provider(addresses)]
