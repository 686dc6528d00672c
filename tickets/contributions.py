"""What the apps built on tickets add to the ticket page, without tickets importing them.

An app above tickets (outbound_mail's delivery status today; SLA timers, automation runs and
presence as they arrive) registers a Contribution in its AppConfig.ready(). The ticket selector
adds every registered prefetch to the comments it loads, so the page keeps a fixed number of
queries however many comments it shows, and the templates include every registered fragment:
`comment_templates` in each comment's header (with `c`, the comment, and `ticket` in context),
`sidebar_templates` in the sidebar (with `ticket`).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db.models import Prefetch


@dataclass(frozen=True)
class Contribution:
    name: str
    # Called each time a page loads, so querysets are built fresh (never shared between requests).
    comment_prefetches: Callable[[], Sequence[Prefetch]] = tuple
    comment_templates: tuple[str, ...] = ()
    sidebar_templates: tuple[str, ...] = ()


_contributions: dict[str, Contribution] = {}


def register(contribution: Contribution) -> None:
    """Add or replace (by name) what one app shows on the ticket page."""
    _contributions[contribution.name] = contribution


def comment_prefetches() -> list[Prefetch]:
    return [p for c in _contributions.values() for p in c.comment_prefetches()]


def comment_templates() -> list[str]:
    return [t for c in _contributions.values() for t in c.comment_templates]


def sidebar_templates() -> list[str]:
    return [t for c in _contributions.values() for t in c.sidebar_templates]
