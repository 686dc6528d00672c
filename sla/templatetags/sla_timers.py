"""Template tags for SLA timers on the ticket list and the ticket page."""

from django import template
from django.utils import timezone

from sla import display

register = template.Library()


@register.simple_tag
def sla_nearest(ticket):
    """The list badge's timer: from the running timers the list prefetched (`sla_running`)."""
    return display.nearest(getattr(ticket, "sla_running", ()), timezone.now())


@register.simple_tag
def sla_timer_views(ticket):
    """Every timer of the ticket (prefetched with its policy), first due first."""
    now = timezone.now()
    timers = sorted(ticket.sla.all(), key=lambda t: (t.due_at, t.pk))
    return [display.timer_view(t, now) for t in timers]
