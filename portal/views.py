"""The portal's front page (being written)."""

from django.shortcuts import redirect


def home(request):
    if request.user.is_authenticated and request.membership:
        return redirect("tickets:list")
    return redirect("login")
