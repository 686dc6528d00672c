"""What the apps above tickets move when two tickets or two contacts are merged, without tickets
importing them.

An app that keeps rows pointing at a ticket or a contact (inbound_mail's thread references,
outbound_mail's sent Message-IDs and recipients) registers a handler in its AppConfig.ready().
Unlike domain events (tickets.events, delivered after commit), handlers run INSIDE the merge's
transaction, before the merged row is closed or deleted: a mail arriving just after the commit
must already find its thread on the survivor, and a contact's rows must move before the contact
is deleted (on_delete would null or cascade them). A handler that raises rolls the merge back.
Handlers take plain ids: (the merged one's id, the survivor's id), in the active tenant.
"""

from collections.abc import Callable

Handler = Callable[[int, int], None]

_ticket_handlers: dict[str, Handler] = {}
_contact_handlers: dict[str, Handler] = {}


def on_tickets_merged(name: str, handler: Handler) -> None:
    """Add or replace (by name) what runs when ticket `merged` is merged into `survivor`."""
    _ticket_handlers[name] = handler


def on_contacts_merged(name: str, handler: Handler) -> None:
    """Add or replace (by name) what runs when contact `merged` is merged into `survivor`."""
    _contact_handlers[name] = handler


def tickets_merged(merged_id: int, survivor_id: int) -> None:
    for handler in list(_ticket_handlers.values()):
        handler(merged_id, survivor_id)


def contacts_merged(merged_id: int, survivor_id: int) -> None:
    for handler in list(_contact_handlers.values()):
        handler(merged_id, survivor_id)
