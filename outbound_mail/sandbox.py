"""The only tags and filters a tenant's mail template may use (the sandbox engine's builtins).

An allow-list, not a deny-list: `load`, `include`, `extends`, `debug`, `url`, `csrf_token`,
`autoescape`, `for`, `safe` and everything else Django ships are simply not registered, so
templates using them fail to compile and are refused when saved. Filters that pad to a width
the template names (center, ljust, rjust) are left out too: `ljust:"999999999"` would make a
worker allocate a gigabyte. Without `for` and with only
plain strings in the context a template cannot loop (no runaway rendering); without `safe`
and `autoescape` it cannot unescape what customers wrote.
"""

from django.template import Library, defaultfilters, defaulttags

register = Library()

ALLOWED_TAGS = ("comment", "firstof", "if", "now", "spaceless", "templatetag", "verbatim", "with")
ALLOWED_FILTERS = (
    "add",
    "capfirst",
    "cut",
    "default",
    "default_if_none",
    "first",
    "last",
    "length",
    "linebreaks",
    "linebreaksbr",
    "lower",
    "pluralize",
    "slice",
    "striptags",
    "title",
    "truncatechars",
    "truncatewords",
    "upper",
    "urlencode",
    "wordcount",
    "wordwrap",
    "yesno",
)

for _name in ALLOWED_TAGS:
    register.tags[_name] = defaulttags.register.tags[_name]
for _name in ALLOWED_FILTERS:
    register.filters[_name] = defaultfilters.register.filters[_name]
