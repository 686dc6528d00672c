"""`{% placeholder_table %}`: the one list of placeholders (tickets.placeholders.SHARED) as a
table of name and meaning, the same on every settings page that documents it."""

from django import template

from tickets import placeholders

register = template.Library()


@register.inclusion_tag("tickets/_placeholder_table.html")
def placeholder_table(which: str = "shared") -> dict:
    rows = placeholders.REPLYING_AGENT if which == "canned" else placeholders.SHARED
    table_id = "canned-placeholders" if which == "canned" else "shared-placeholders"
    return {"rows": rows, "table_id": table_id}
