"""Avatars two agents with the same initials can tell apart (a colour derived from who they
are), and whether the agent viewing a ticket follows it."""

import zlib

from django import template

register = template.Library()


@register.filter
def avatar_color(person) -> str:
    """A stable colour per person (from their email, else their name), dark enough for white
    initials at WCAG AA."""
    key = (getattr(person, "email", "") or str(person)).lower().encode()
    hue = zlib.crc32(key) % 360
    return f"hsl({hue} 55% 36%)"


@register.filter
def followed_by(ticket, user) -> bool:
    """Whether `user` follows `ticket`, from the followers the ticket page prefetched."""
    return any(f.user_id == user.pk for f in ticket.followers.all())
