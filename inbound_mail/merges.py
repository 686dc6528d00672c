"""What inbound mail moves when tickets merge (tickets.merging): the Message-IDs that thread to
the merged ticket, and the received messages filed on it, now lead to the survivor."""

from inbound_mail.models import InboundMessage, ThreadReference
from tickets import merging


def tickets_merged(merged_id: int, survivor_id: int) -> None:
    # An id known on both tickets keeps the survivor's row (unique per tenant and id).
    known = ThreadReference.objects.filter(ticket_id=survivor_id).values("message_id")
    ThreadReference.objects.filter(ticket_id=merged_id, message_id__in=known).delete()
    ThreadReference.objects.filter(ticket_id=merged_id).update(ticket_id=survivor_id)
    InboundMessage.objects.filter(ticket_id=merged_id).update(ticket_id=survivor_id)


def connect() -> None:
    merging.on_tickets_merged("inbound_mail", tickets_merged)
