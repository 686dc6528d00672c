"""Forwards: one message, or a ticket's public conversation, with its attachments, to each
address an agent named (tickets.services.forwarding announces `ticket.forwarded`).

Each address gets its own message from the shipped template (rendered in the sandbox like every
other), sent at once: a human message (no Auto-Submitted), never folded, Reply-To the agent
who forwarded it, so an answer goes to them and not into the ticket as the customer's.
"""

import html

from django.utils.safestring import mark_safe

from outbound_mail import placeholders
from outbound_mail.kinds import Kind
from outbound_mail.services import outbox
from outbound_mail.services.outbox import EventContext, Recipient
from tickets import rich_text
from tickets.models import Attachment, Comment

MAX_RECIPIENTS = 20  # tickets.recipients.MAX_ADDRESSES: the form accepts no more


def on_forwarded(ctx: EventContext) -> None:
    comments = _forwarded_comments(ctx)
    addresses = [a for a in ctx.data.get("to", []) if isinstance(a, str)][:MAX_RECIPIENTS]
    if not comments or not addresses:
        return
    attachments = list(
        Attachment.objects.filter(comment_id__in=[c.pk for c in comments]).order_by("id")
    )
    agent = ctx.actor.display_name if ctx.actor else ""
    values = {
        **ctx.ticket_values,
        **forward_values(comments, attachments, ctx.ticket.number),
        **note_values(str(ctx.data.get("note") or "")),
        "agent_name": agent,
    }
    reply_to = {"Reply-To": ctx.actor.email} if ctx.actor and ctx.actor.email else {}
    for address in addresses:
        outbox.queue(
            ctx,
            Kind.FORWARD,
            Recipient(address, ""),
            values,
            automatic=False,
            attachment_ids=[a.pk for a in attachments],
            extra_headers=reply_to,
        )


def _forwarded_comments(ctx: EventContext) -> list[Comment]:
    """The one message named, or every public one; internal notes are never forwarded whole."""
    comments = Comment.objects.filter(ticket_id=ctx.ticket.pk).select_related(
        "author_user", "author_contact"
    )
    comment_id = ctx.data.get("comment_id")
    if comment_id is not None:
        return list(comments.filter(pk=comment_id)) if isinstance(comment_id, int) else []
    return list(comments.filter(is_public=True).order_by("created_at", "id"))


def forward_values(comments: list[Comment], attachments: list, number: int) -> dict[str, str]:
    """`forwarded_text` and `forwarded_html`: each message under a From/Date line, oldest first."""
    texts, parts = [], []
    for comment in comments:
        when = f"{comment.created_at:%Y-%m-%d %H:%M} UTC"
        heading = f"From: {_author(comment)}, {when}"
        body = (
            rich_text.text_part(comment.body_text)
            if rich_text.is_markdown(comment)
            else comment.body_text
        )
        texts.append(f"{heading}\n\n{body.strip()}")
        own = [a for a in attachments if a.comment_id == comment.pk]
        body_html = rich_text.mail_html(placeholders.comment_html(comment), number, own)
        parts.append(
            f'<div class="forwarded"><p class="muted">{html.escape(heading)}</p>{body_html}</div>'
        )
    return {
        "forwarded_text": "\n\n".join(texts),
        "forwarded_html": mark_safe("<hr>".join(parts)),  # noqa: S308 (sanitised bodies, escaped text)
    }


def _author(comment: Comment) -> str:
    if comment.author_contact_id and comment.author_contact is not None:
        contact = comment.author_contact
        return f"{contact.name} <{contact.email}>" if contact.name else contact.email
    return comment.author_name


def note_values(note: str) -> dict[str, str]:
    """The agent's note above the forwarded message: Markdown, as their replies are."""
    return {
        "note_text": rich_text.text_part(note).strip(),
        "note_html": mark_safe(rich_text.render_markdown(note)),  # noqa: S308 (rendered and sanitised)
    }
