"""What outbound mail moves when tickets or contacts merge (tickets.merging): the mail we sent
on the merged ticket (its Message-IDs thread replies, inbound_mail.threading) and the mail we
sent to the merged contact now belong to the survivor."""

from outbound_mail.models import OutgoingMessage
from tickets import merging


def tickets_merged(merged_id: int, survivor_id: int) -> None:
    # Mail still waiting out the debounce goes out as the merged ticket's; a reply to it
    # threads to the survivor all the same (threading follows Ticket.merged_into).
    sent = OutgoingMessage.objects.filter(ticket_id=merged_id).exclude(
        status=OutgoingMessage.Status.PENDING
    )
    sent.update(ticket_id=survivor_id)


def contacts_merged(merged_id: int, survivor_id: int) -> None:
    OutgoingMessage.objects.filter(contact_id=merged_id).update(contact_id=survivor_id)


def connect() -> None:
    merging.on_tickets_merged("outbound_mail", tickets_merged)
    merging.on_contacts_merged("outbound_mail", contacts_merged)
