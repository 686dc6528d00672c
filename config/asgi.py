"""ASGI entry point: HTTP to Django, websockets at /ws/live/ to the live consumer.

A websocket passes, in order: the Origin check (ALLOWED_HOSTS), the session and the signed-in
user (channels' AuthMiddlewareStack, the same session cookie as the pages), and the tenant from
the Host header (live.middleware: an unknown host, the platform host or an Origin of another
host is closed before the consumer sees it); the consumer then admits only agents of that
tenant (live.consumers).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django first: it sets up the apps the imports below need.
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from live import relay  # noqa: E402
from live.middleware import TenantWebsocketMiddleware  # noqa: E402
from live.routing import websocket_urlpatterns  # noqa: E402

# This process holds the sockets: without a shared layer, events published here go to the
# local layer directly and other processes relay theirs to this one (live.relay).
relay.serve_here()

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(TenantWebsocketMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
