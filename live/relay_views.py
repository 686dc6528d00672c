"""The relay's endpoint in the web process: messages another process (the Celery worker) could
not send itself, because the channel layer lives here alone (live.relay).

Posted on the tenant's own host, so the request runs inside that tenant; the body must carry a
fresh signature from a key derived from SECRET_KEY, name this tenant, and address only its
groups. 404 wherever relaying is not how messages travel (a shared layer, or a process that
does not serve the sockets), 403 for a bad or stale signature, 400 for a malformed body; 204
once the messages are on the layer.
"""

import json
import time

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from live import publish, relay


@csrf_exempt  # another process of ours posts it; the body's signature is checked instead
@require_POST
def relay_post(request: HttpRequest) -> HttpResponse:
    organization = getattr(request, "organization", None)
    if organization is None or relay.layer_is_shared() or not relay.serving_here():
        raise Http404("No relay here.")
    body = request.body
    if not relay.signature_matches(body, request.headers.get(relay.SIGNATURE_HEADER, "")):
        return _text("bad signature", 403)
    parsed = _parse(body, organization.pk)
    if isinstance(parsed, str):
        return _text(parsed, 400 if parsed != "stale" else 403)
    messages, presence = parsed
    relay.send_local(messages)
    relay.broadcast_presence_local(organization.pk, presence)
    return HttpResponse(status=204)


def _parse(body: bytes, organization_id: int) -> tuple[list[relay.Message], list[int]] | str:
    """The messages and presence tickets of a relayed body, or what is wrong with it."""
    try:
        payload = json.loads(body)
    except ValueError:
        return "not JSON"
    if not isinstance(payload, dict) or payload.get("organization") != organization_id:
        return "not this tenant's"
    sent = payload.get("sent")
    if not isinstance(sent, int | float) or abs(time.time() - sent) > relay.FRESH_SECONDS:
        return "stale"
    messages = _messages(payload.get("messages"), organization_id)
    presence = payload.get("presence", [])
    if messages is None or not _ids(presence):
        return "malformed messages"
    return messages, presence


def _messages(raw, organization_id: int) -> list[relay.Message] | None:
    if not isinstance(raw, list) or len(raw) > relay.MAX_MESSAGES:
        return None
    prefix = f"live.o{organization_id}."
    messages = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2):
            return None
        group, message = item
        if not (isinstance(group, str) and group.startswith(prefix) and len(group) < 100):
            return None
        if not (isinstance(message, dict) and message.get("organization") == organization_id):
            return None
        if message.get("type") != publish.PUSH_TYPE:  # the one handler a relay may reach
            return None
        messages.append((group, message))
    return messages


def _ids(raw) -> bool:
    return (
        isinstance(raw, list)
        and len(raw) <= relay.MAX_MESSAGES
        and all(isinstance(i, int) and not isinstance(i, bool) for i in raw)
    )


def _text(body: str, status: int) -> HttpResponse:
    return HttpResponse(body + "\n", status=status, content_type="text/plain; charset=utf-8")
