"""Live collaboration's one table: an agent's unsent reply or note on a ticket (a draft).

Presence itself is never stored here (live.presence keeps it in Redis or in the process)."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.models import TenantModel
from tickets.models import Ticket

# The reply box is saved as the agent types; a draft is text, not an archive.
BODY_LIMIT_BYTES = 100 * 1024


class Draft(TenantModel):
    """What an agent has typed into a ticket's reply box and not yet sent; one per agent and
    ticket, deleted when that agent's comment on the ticket is added."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    body = models.TextField()
    # The reply box's "internal note" choice, restored with the text.
    internal = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "ticket", "user"], name="draft_unique_ticket_user"
            )
        ]

    def __str__(self):
        return f"draft of user {self.user_id} on ticket {self.ticket_id}"
