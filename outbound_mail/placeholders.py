"""The flat context a mail template renders against: plain strings only, never model objects.

The placeholders every template shares with canned responses, and their values for a ticket,
are tickets.placeholders' (SHARED, ticket_values); this module adds what a mail knows on top:
its recipient, the updates it folds, the customer's message, links for agents, SLA times.

A template sees `{{ ticket_subject }}`, never a Ticket: there is no object to call a method on
and no relation to follow into another tenant's data. Values whose names end in `_html` are HTML
we built from sanitised comment bodies and escaped text; every other value is escaped in HTML.
"""

import html
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.safestring import SafeString, mark_safe

from outbound_mail.kinds import AGENT_KINDS, Kind
from tenants.hosts import organization_url
from tickets import rich_text
from tickets.placeholders import SHARED, Placeholder, ticket_values

# The shared list (and its values for a ticket) is tickets.placeholders'; a mail adds these.
COMMON = [
    *SHARED,
    Placeholder("recipient_name", "The name of the person this message goes to"),
]
UPDATES = [
    Placeholder("updates_text", "Everything that changed since the last message, as text"),
    Placeholder("updates_html", "The same as HTML"),
    Placeholder("agent_name", "The agent who wrote the latest reply"),
    Placeholder("status_from", "The status before the first change"),
    Placeholder("status_to", "The status now"),
]
MESSAGE = [
    Placeholder("message_text", "The customer's message, as text"),
    Placeholder("message_html", "The customer's message, as HTML"),
]
AGENT = [
    Placeholder("ticket_url", "Link to the ticket in the agent workspace"),
    Placeholder("actor_name", "Who made the change"),
]
SLA = [
    Placeholder("sla_target", "Which target: first response or resolution"),
    Placeholder("sla_due_at", "When the target is (or was) due"),
]

BY_KIND: dict[str, list[Placeholder]] = {
    Kind.NEW_TICKET_CONFIRMATION: COMMON + MESSAGE,
    Kind.AGENT_REPLY: COMMON + UPDATES,
    Kind.TICKET_RESOLVED: COMMON + UPDATES,
    Kind.STATUS_CHANGED: COMMON + UPDATES,
    Kind.NEW_TICKET_ALERT: COMMON + MESSAGE + AGENT,
    Kind.CUSTOMER_REPLY: COMMON + MESSAGE + AGENT,
    Kind.ASSIGNMENT: COMMON + AGENT,
    Kind.SLA_WARNING: COMMON + AGENT + SLA,
    Kind.SLA_BREACH: COMMON + AGENT + SLA,
}


def agent_values(ticket, kind: str, actor_name: str = "") -> dict[str, str]:
    if kind not in AGENT_KINDS:
        return {}
    url = organization_url(ticket.organization, f"/agent/tickets/{ticket.number}/")
    return {"ticket_url": url, "actor_name": actor_name}


def message_values(comment) -> dict[str, str]:
    if comment is None:
        return {"message_text": "", "message_html": mark_safe("")}
    return {"message_text": comment.body_text, "message_html": comment_html(comment)}


def comment_html(comment) -> SafeString:
    # body_html was sanitised with nh3 when the comment was stored (tickets.sanitize).
    return mark_safe(comment.body_html)  # noqa: S308


@dataclass(frozen=True)
class Update:
    """One change folded into a customer update: a reply, or a status change."""

    text: str
    html: str


def reply_update(comment) -> Update:
    """An agent's reply: Markdown written on the workspace has its text part derived (links as
    "text (url)"), and its pasted images are the mail's related parts (tickets.rich_text)."""
    author = comment.author_name
    source = comment.body_text
    plain = rich_text.text_part(source) if rich_text.is_markdown(comment) else source
    text = f"{plain.strip()}\n\n— {author}"
    body = f'{reply_html(comment)}<p class="signature">— {html.escape(author)}</p>'
    return Update(text=text, html=body)


def reply_html(comment) -> SafeString:
    """The comment's HTML with its inline images as `cid:` references to the mail's parts."""
    body = comment_html(comment)
    if "/attachments/" not in body:
        return body
    attachments = comment.attachments.all()
    # mail_html only swaps our attachment links for cid: references in the sanitised HTML.
    return mark_safe(rich_text.mail_html(body, comment.ticket.number, attachments))  # noqa: S308


def status_update(change: dict) -> Update:
    line = f"Status changed from {change['from']} to {change['to']}."
    return Update(text=line, html=f'<p class="change">{html.escape(line)}</p>')


def updates_values(updates: list[Update], changes: list[dict], agent_name: str) -> dict[str, str]:
    statuses = [c for c in changes if c["type"] == "status"]
    return {
        "updates_text": "\n\n".join(u.text for u in updates),
        "updates_html": mark_safe("".join(u.html for u in updates)),  # noqa: S308 (built here)
        "agent_name": agent_name,
        "status_from": statuses[0]["from"] if statuses else "",
        "status_to": statuses[-1]["to"] if statuses else "",
    }


def sla_values(data: dict, timezone_name: str) -> dict[str, str]:
    target = {
        "first_response": "first response",
        "next_response": "next response",
        "resolution": "resolution",
    }
    return {
        "sla_target": target.get(data.get("target", ""), str(data.get("target", ""))),
        "sla_due_at": local_time(data.get("due_at", ""), timezone_name),
    }


def held_reply_values(ticket, held, newer: list, timezone_name: str) -> dict[str, str]:
    """What the notice of a reply the send guard held says: the link that sends it, the reply
    and the entries that came after the one it answered (`newer`, comments with authors)."""
    lines = [(c.author_name, local_time(c.created_at.isoformat(), timezone_name), c) for c in newer]
    text = [f"{name}, {when}:\n{c.body_text.strip()}" for name, when, c in lines]
    parts = [
        f"<p><strong>{html.escape(name)}</strong>, {html.escape(when)}:</p>"
        f'<div class="quote">{comment_html(c)}</div>'
        for name, when, c in lines
    ]
    path = f"/agent/tickets/{ticket.number}/held/{held.pk}/"
    return {
        "held_url": organization_url(ticket.organization, path),
        "reply_text": held.body_text,
        "newer_count": str(len(newer)),
        "newer_text": "\n\n".join(text),
        "newer_html": mark_safe("".join(parts)),  # noqa: S308 (escaped and sanitised parts)
    }


def local_time(iso: str, timezone_name: str) -> str:
    """An ISO 8601 instant as the tenant reads it: `2025-03-04 14:30 (Europe/Berlin)`."""
    try:
        moment = datetime.fromisoformat(str(iso))
        zone = ZoneInfo(timezone_name)
    except (ValueError, ZoneInfoNotFoundError):
        return str(iso)
    if moment.tzinfo is None:
        return str(iso)
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} ({timezone_name})"


def sample_values(kind: str) -> dict[str, str]:
    """Every placeholder of `kind` filled with an example: what a template is checked with."""
    values = {p.name: f"[{p.name}]" for p in BY_KIND[kind]}
    for name in values:
        if name.endswith("_html"):
            values[name] = mark_safe(f"<p>[{name}]</p>")  # noqa: S308 (a constant)
    return values


def preview_values(kind: str, ticket, agent) -> dict[str, str]:
    """Real values from `ticket` for the editor's preview (SLA times are examples)."""
    comments = list(ticket.comments.filter(is_public=True).select_related("author_user"))
    first = comments[0] if comments else None
    reply = next((c for c in reversed(comments) if c.author_user_id), None)
    updates = [reply_update(reply)] if reply else []
    changes = [{"type": "reply", "comment_id": reply.pk}] if reply else []
    values = {
        **ticket_values(ticket),
        **message_values(first),
        **updates_values(updates, changes, reply.author_name if reply else ""),
        **agent_values(ticket, kind, agent.display_name),
        "recipient_name": ticket.requester.name or ticket.requester.email,
    }
    if kind in (Kind.SLA_WARNING, Kind.SLA_BREACH):
        values.update(sla_target="first response", sla_due_at="(the due time)")
    return values
