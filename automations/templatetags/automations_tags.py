"""`{% usable_macros as macros %}`: the macros the signed-in agent may apply (the shared ones,
then their own), read once for the ticket page's control or the list's bulk bar."""

from django import template

from automations.macro_selectors import macros_usable_by
from automations.models import Macro

register = template.Library()


@register.simple_tag(takes_context=True)
def usable_macros(context) -> list[Macro]:
    user = context["request"].user
    return list(macros_usable_by(user).only("pk", "name", "owner_id"))
