"""Response headers every page gets beyond Django's SecurityMiddleware and django-csp:
`Cache-Control: private, no-store` on the pages of signed-in people (the agent workspace,
settings, the platform's staff pages, the customer portal), so a shared computer's cache or a
proxy never keeps a ticket; and the policy of the one document that may load a message's remote
images.

Mail may load remote images only when the agent asks (tickets.remote_images): they tell the
sender that and when the mail was read (tracking pixels) and from where. A page's policy is
fixed when it loads (a fragment swapped in later is still under it), so a message's images
show in a frame of their own, whose response alone allows them."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

# Path prefixes of pages that show tenant data to signed-in people; static files, health
# checks, webhooks and the agents' sign-in pages are not among them. The customer portal's
# pages (portal.urls, at the host's root, its front page `/` too) are: they show a contact's
# tickets, and its sign-in pages carry one-time links.
PRIVATE_PATH_PREFIXES = ("/agent/", "/settings/", "/platform/", "/account/")
PORTAL_PATH_PREFIXES = (
    *("/tickets/", "/new/", "/profile/", "/contact/"),
    *("/sign-in/", "/sign-out/", "/portal/"),
)
PORTAL_FRONT_PAGE = "/"


def is_private_path(path: str) -> bool:
    return path == PORTAL_FRONT_PAGE or path.startswith(
        PRIVATE_PATH_PREFIXES + PORTAL_PATH_PREFIXES
    )


class PrivatePagesMiddleware:
    """`Cache-Control: private, no-store` on private pages that did not choose their own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if is_private_path(request.path_info) and not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response


def allow_remote_images(response: HttpResponse, http_origins: list[str]) -> HttpResponse:
    """Let this one response (a document showing one message) load images over https: and
    from the http: origins named, and be framed by our own pages; every other page keeps
    the policy that blocks them. Used only where the agent asked, so nothing is stored."""
    response._csp_update = {"img-src": ["https:", *http_origins]}  # type: ignore[attr-defined]  # read by django-csp
    response._csp_replace = {"frame-ancestors": ["'self'"]}  # type: ignore[attr-defined]  # read by django-csp
    response["X-Frame-Options"] = "SAMEORIGIN"  # XFrameOptionsMiddleware keeps one set here
    return response
