"""Where a view may send the browser next: a `next` taken from the request is followed only
when it stays on this request's host (Django's `url_has_allowed_host_and_scheme`), so a crafted
link cannot turn our redirect into an open one."""

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The request's `next` (POST, then GET) when it is a URL on our host, else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback
