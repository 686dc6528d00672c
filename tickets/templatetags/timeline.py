"""`{{ ticket.events.all|timeline_entries }}`: the timeline's rows grouped into entries, one per
automation run or macro application (tickets.timeline_entries)."""

from django import template

from tickets import timeline_entries as entries

register = template.Library()


@register.filter
def timeline_entries(events) -> list[entries.TimelineEntry]:
    return entries.timeline_entries(events)
