"""`{{ comment|comment_images:image_senders }}`: how a message's body shows on the ticket page
(tickets.remote_images), decided at render time so the stored HTML keeps every image."""

from django import template

from tickets import remote_images

register = template.Library()


@register.filter
def comment_images(comment, allowed) -> remote_images.CommentImages:
    # Without the page's allowed senders (a view that did not look them up), everything blocks.
    return remote_images.comment_images(
        comment, allowed if isinstance(allowed, frozenset) else frozenset()
    )
