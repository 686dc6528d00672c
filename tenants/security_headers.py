"""Response headers every page gets beyond Django's SecurityMiddleware and django-csp:
`Cache-Control: private, no-store` on the pages of signed-in people (the agent workspace,
settings, the platform's staff pages), so a shared computer's cache or a proxy never keeps a
ticket; and the per-request opt-in to remote images on a page that shows mail.

Mail may load remote images only when the agent asks, for that one page view: they tell the
sender that and when the mail was read (tracking pixels) and from where."""

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

# Path prefixes of pages that show tenant data to signed-in people; static files, health
# checks, webhooks and the sign-in pages are not among them.
PRIVATE_PATH_PREFIXES = ("/agent/", "/settings/", "/platform/", "/account/")
REMOTE_IMAGES_PARAM = "remote_images"


class PrivatePagesMiddleware:
    """`Cache-Control: private, no-store` on private pages that did not choose their own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path_info.startswith(PRIVATE_PATH_PREFIXES) and not response.has_header(
            "Cache-Control"
        ):
            patch_cache_control(response, private=True, no_store=True)
        return response


def wants_remote_images(request: HttpRequest) -> bool:
    return request.GET.get(REMOTE_IMAGES_PARAM) == "1"


def remote_images_on_request(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The view's page may load https: images when the request asks (?remote_images=1); never
    stored, so the next view of the page blocks them again."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if wants_remote_images(request):
            response._csp_update = {"img-src": ["https:"]}  # type: ignore[attr-defined]  # read by django-csp
        return response

    return wrapper
