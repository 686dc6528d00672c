"""What outbound mail shows on the ticket page: each comment's delivery status, per recipient."""

from django.db.models import Prefetch

from outbound_mail.models import OutgoingMessageComment
from tickets import contributions


def _deliveries() -> list[Prefetch]:
    # The mail each comment went out as, with the contact (an undeliverable address is shown).
    links = OutgoingMessageComment.objects.select_related("message__contact").order_by("id")
    return [Prefetch("outgoing_links", queryset=links)]


def register() -> None:
    contributions.register(
        contributions.Contribution(
            name="outbound_mail.delivery",
            comment_prefetches=_deliveries,
            comment_templates=("outbound_mail/_comment_delivery.html",),
        )
    )
