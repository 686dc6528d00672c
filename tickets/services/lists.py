"""The tenant's ticket lists and rail change version after a change commits
(tickets.selectors.bump_list_version). Inside a caller's gathering (tickets.services.timeline
`gathered`: the automations engine running a ticket's rules, which tag it, set its team and
assign it in one transaction) the bump is queued once, at the first change, not once per
change."""

from functools import partial

from django.db import transaction

from tickets.selectors import bump_list_version
from tickets.services import timeline


def lists_changed(organization_id: int) -> None:
    """Bump the tenant's list version after this transaction commits (at once outside one),
    unless the caller's gathering queued that bump already."""
    waiting = timeline.gathering()
    if waiting is not None:
        if organization_id in waiting.bumped:
            return
        waiting.bumped.append(organization_id)
    transaction.on_commit(partial(bump_list_version, organization_id))
