"""What the mail app says about an agent's reply on its way out, without tickets importing it.

A public reply waits out the tenant's debounce before it reaches the customer; until then the
agent may take it back (Undo, or make it internal). outbound_mail registers a ReplyDelivery in
its AppConfig.ready(): `send_times` says, for each comment whose mail has not gone out yet, when
it will; `withdraw` cancels a comment's waiting mail (or takes the reply out of a folded update)
and raises AlreadySent when any of it went out. Without a provider nothing is ever mailed, so
every reply is withdrawable at once.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tickets.models import Comment


class AlreadySent(Exception):
    """The reply's mail went out (or is going out right now): it can no longer be taken back."""


@dataclass(frozen=True)
class ReplyDelivery:
    # {comment id: when its mail goes out} for the comments still waiting; the others are absent.
    send_times: Callable[[Sequence[Comment]], dict[int, datetime]]
    # Cancel (never send) the comment's waiting mail; raise AlreadySent when it is too late.
    # Called inside the caller's transaction, with the ticket row locked.
    withdraw: Callable[[Comment], None]


_provider: ReplyDelivery | None = None


def register(provider: ReplyDelivery) -> None:
    global _provider  # one provider per process, set at start-up
    _provider = provider


def send_times(comments: Sequence[Comment]) -> dict[int, datetime]:
    return _provider.send_times(comments) if _provider is not None else {}


def withdraw(comment: Comment) -> None:
    if _provider is not None:
        _provider.withdraw(comment)
