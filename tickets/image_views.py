"""A message's remote images on request (tickets.remote_images): "Show images" swaps the
message's body for a frame, the frame's document is the only response allowed to load them,
"Always show images from" remembers the sender; and the settings page listing those senders."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from tenants.access import admin_required, agent_required
from tenants.security_headers import allow_remote_images
from tickets import remote_images, selectors
from tickets.models import Comment, RemoteImageSender, Ticket
from tickets.services.image_senders import image_sender_allow, image_sender_remove

SCOPES = ("address", "domain")


def _comment(number: int, pk: int) -> tuple[Ticket, Comment]:
    try:
        ticket = selectors.ticket_detail(number)
    except Ticket.DoesNotExist:
        raise Http404("No such ticket.") from None
    comment = next((c for c in ticket.comments.all() if c.pk == pk), None)
    if comment is None:
        raise Http404("No such message.")
    return ticket, comment


def _body(request, ticket, comment, view, *, error="", others=(), status=200):
    context = {"ticket": ticket, "c": comment, "view": view, "error": error, "others": others}
    return render(request, "tickets/_comment_body.html", context, status=status)


@require_GET
@agent_required
def comment_images(request, number: int, pk: int):
    """The message's body as a frame showing its images (swapped in by htmx)."""
    ticket, comment = _comment(number, pk)
    if not request.htmx:
        return redirect("tickets:comment_frame", number=number, pk=pk)
    allowed = remote_images.allowed_senders(ticket)
    view = remote_images.comment_images(comment, allowed, show=True)
    return _body(request, ticket, comment, view)


@require_GET
@agent_required
def comment_frame(request, number: int, pk: int):
    """The message alone, with its remote images: the one document whose policy allows them."""
    _, comment = _comment(number, pk)
    response = render(request, "tickets/comment_frame.html", {"html": comment.body_html})
    return allow_remote_images(response, remote_images.image_origins(comment.body_html))


def _always_error(comment: Comment, scope: str) -> str:
    if scope not in SCOPES:
        return "Choose the sender's address or domain."
    if not remote_images.sender_address(comment):
        return "This message has no sender address to remember; use Show images instead."
    return ""


@require_POST
@agent_required
def comment_images_always(request, number: int, pk: int):
    """Always show images from the message's sender (address or domain), here and later."""
    ticket, comment = _comment(number, pk)
    scope = request.POST.get("scope", "")
    if error := _always_error(comment, scope):
        view = remote_images.comment_images(comment, remote_images.allowed_senders(ticket))
        return _body(
            request, ticket, comment, view, error=error, status=200 if request.htmx else 400
        )
    address = remote_images.sender_address(comment)
    pattern = address if scope == "address" else remote_images.sender_domain(address)
    image_sender_allow(organization=request.organization, pattern=pattern, actor_user=request.user)
    messages.success(request, f"Images from {pattern} will show from now on.")
    if not request.htmx:
        return redirect(reverse("tickets:detail", args=[number]) + f"#comment-{pk}")
    ticket, comment = _comment(number, pk)
    allowed = remote_images.allowed_senders(ticket)
    # The sender's other messages on the page show their images too (swapped out of band).
    others = [
        (c, view)
        for c in ticket.comments.all()
        if c.pk != pk and (view := remote_images.comment_images(c, allowed)).shown
    ]
    view = remote_images.comment_images(comment, allowed)
    return _body(request, ticket, comment, view, others=others)


@admin_required
def image_senders(request):
    rows = list(RemoteImageSender.objects.select_related("created_by"))
    return render(request, "settings/remote_images.html", {"rows": rows})


@require_POST
@admin_required
def image_sender_delete(request, pk: int):
    sender = RemoteImageSender.objects.filter(pk=pk).first()
    if sender is None:
        raise Http404("No such sender.")
    image_sender_remove(sender=sender)
    messages.success(request, f"Images from {sender.pattern} are blocked again.")
    return redirect("settings_remote_images")
