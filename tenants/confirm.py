"""A confirmation step before a destructive POST, with or without JavaScript.

A form marked `data-confirm="..."` asks in the browser (static/js/app.js) and then adds
`confirm=1`; a POST without it (no JavaScript, or a replayed request) gets a page that asks,
repeats the form's fields, and posts them again with `confirm=1`. Views call `unconfirmed()`
after finding the row (so another tenant's row stays a 404) and before acting.
"""

from dataclasses import dataclass, field

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

SKIPPED = ("csrfmiddlewaretoken", "confirm")


@dataclass
class Confirmation:
    question: str
    cancel_url: str
    detail: str = ""
    action: str = "Delete"
    # (name, label, [(value, label)], error): a choice the page asks for alongside, e.g. where
    # the tickets of a deleted status go.
    choice: tuple[str, str, list[tuple[str, str]], str] | None = None
    hidden: list[tuple[str, str]] = field(default_factory=list)
    # The page around it: settings pages', or agent_confirm.html on an agent's own pages.
    template: str = "settings/confirm.html"


def confirmed(request: HttpRequest) -> bool:
    return request.POST.get("confirm") == "1"


def unconfirmed(request: HttpRequest, confirmation: Confirmation) -> HttpResponse | None:
    """The confirmation page, or None when the POST was confirmed."""
    if confirmed(request):
        return None
    return confirm_page(request, confirmation)


def confirm_page(request: HttpRequest, confirmation: Confirmation, status: int = 200):
    choice_name = confirmation.choice[0] if confirmation.choice else ""
    confirmation.hidden = [
        (name, value)
        for name, values in request.POST.lists()
        if name not in SKIPPED and name != choice_name
        for value in values
    ]
    context = {"confirmation": confirmation}
    return render(request, confirmation.template, context, status=status)
