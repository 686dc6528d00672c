"""The send guard: a public reply that would cross another one is held instead of sent.

In the browser the reply form carries what its page showed (`Seen`: the newest comment id and
the requester). When a newer public comment that is not the agent's own exists (a customer's
message, another agent's reply), or the requester changed, `reply_create_guarded` creates
nothing and raises ReplyHeld with what is new; the agent sends anyway or edits first.

By mail (inbound_mail.services.apply), a proven agent's reply that answers an older entry than
the newest public one not theirs is kept by `mail_reply_create` as an internal note marked held
(Comment.held_reason), and the agent is told (the `staff_reply.held` event); `held_reply_send`
sends it once they have seen what came after, making it public through comment_set_public, so
its mail goes out as any reply's does.

Internal notes are never held. Every check runs under the ticket's row lock, which every new
comment takes first (comment_create), so no reply slips in between the check and the write.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max

from tenants.models import User
from tickets import events
from tickets.models import Comment, Ticket
from tickets.services.comments import CommentNotChangeable, comment_create, comment_set_public

HELD_REASON = "held: a newer reply exists"


@dataclass(frozen=True)
class Seen:
    """What the agent's page showed: the newest comment id, and the requester (None: not
    checked)."""

    comment_id: int
    requester_id: int | None = None


class ReplyHeld(Exception):
    """Nothing was created or sent: `newer` (comment ids, oldest first) arrived after what the
    agent saw, or the requester changed."""

    def __init__(self, *, newer: Sequence[int], requester_changed: bool = False):
        super().__init__(
            f"held: {len(newer)} newer entries, requester changed: {requester_changed}"
        )
        self.newer = list(newer)
        self.requester_changed = requester_changed


class NotTheAuthor(CommentNotChangeable):
    """A held reply is sent by the agent who wrote it, nobody else."""


def collides(comment: Comment, *, after: int, user_id: int | None) -> bool:
    """Whether `comment` is news to the agent `user_id` who saw up to entry `after`: a public
    comment after it that is not theirs (what the held page lists; `_newer_ids` asks the
    database, and counts the agent's own newest reply as seen too)."""
    return comment.is_public and comment.pk > after and comment.author_user_id != user_id


def _newer_ids(ticket: Ticket, *, after: int, user: User) -> list[int]:
    """The public comments after entry `after` not by `user`. Whoever sent a public reply saw
    what came before it (on a page, or in the mail it answered), so their own newest reply
    counts as seen too: from another tab, or by mail."""
    public = Comment.objects.filter(ticket_id=ticket.pk, is_public=True)
    own = public.filter(author_user_id=user.pk).aggregate(newest=Max("pk"))["newest"]
    after = max(after, own or 0)
    # exclude() on a nullable column keeps the NULLs: a customer's message has no author_user.
    newer = public.filter(pk__gt=after).exclude(author_user_id=user.pk)
    return list(newer.order_by("pk").values_list("pk", flat=True))


def _locked(ticket_id: int) -> Ticket:
    return Ticket.objects.select_for_update(of=("self",)).get(pk=ticket_id)


@transaction.atomic
def reply_create_guarded(
    *, ticket: Ticket, seen: Seen | None, author_user: User, is_public: bool, **fields
) -> Comment:
    """comment_create (with `fields` as it takes them), unless it is a public reply and the
    ticket moved on since `seen`: then ReplyHeld, and nothing is written. `seen` None (a post
    that carries no page state: an older page, another client) is not checked."""
    locked = _locked(ticket.pk)
    if is_public and seen is not None:
        newer = _newer_ids(locked, after=seen.comment_id, user=author_user)
        changed = seen.requester_id is not None and seen.requester_id != locked.requester_id
        if newer or changed:
            raise ReplyHeld(newer=newer, requester_changed=changed)
    return comment_create(ticket=locked, is_public=is_public, author_user=author_user, **fields)


@transaction.atomic
def mail_reply_create(
    *, ticket: Ticket, answered: int | None, author_user: User, is_public: bool, **fields
) -> Comment:
    """A proven agent's reply by mail (comment_create's `fields`). `answered` is the newest
    entry their mail answers (by its In-Reply-To and References; None when none is known: not
    checked). When a public entry not theirs came after it, the reply is kept as an internal
    note marked held, nothing reaches the customer, and `staff_reply.held` tells the agent."""
    locked = _locked(ticket.pk)
    newer = _newer_ids(locked, after=answered, user=author_user) if answered is not None else []
    held = is_public and bool(newer)
    comment = comment_create(
        ticket=locked, is_public=is_public and not held, author_user=author_user, **fields
    )
    if held:
        comment.held_reason, comment.held_after = HELD_REASON, answered
        comment.save(update_fields=["held_reason", "held_after"])
        data = {"user_id": author_user.pk, "comment_id": comment.pk, "newer_ids": newer}
        events.emit(
            events.DomainEvent(
                events.STAFF_REPLY_HELD, locked.organization_id, locked.pk, author_user.pk, data
            )
        )
    return comment


@transaction.atomic
def held_reply_send(*, comment: Comment, actor_user: User, seen_comment: int) -> Comment:
    """Send a reply the guard held: public through comment_set_public (its mail goes out as a
    reply, after the debounce), unless yet another entry came after `seen_comment`, the newest
    one its author was shown (ReplyHeld again).

    Raises NotTheAuthor for anyone but its author, CommentNotChangeable once it is not held."""
    ticket = _locked(comment.ticket_id)
    comment = Comment.objects.get(pk=comment.pk)  # as it is now, under the ticket's lock
    if comment.author_user_id != actor_user.pk:
        raise NotTheAuthor("Only the agent who wrote a held reply can send it.")
    if not comment.held_reason or comment.is_public:
        raise CommentNotChangeable("This reply is no longer held: it was sent or changed already.")
    newer = _newer_ids(ticket, after=seen_comment, user=actor_user)
    if newer:
        raise ReplyHeld(newer=newer)
    return comment_set_public(comment=comment, public=True, actor_user=actor_user)
