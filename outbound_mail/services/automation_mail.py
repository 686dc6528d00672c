"""What an automation rule (or a macro) sends, through the outbox like every other mail.

`automation.mail` (automations.actions, "mail the requester"): the requester gets the rule's
own subject and body instead of a tenant template, rendered in the sandbox with the
canned-response placeholders and the recipient's name, branded and threaded like any customer
mail. It is automatic mail, so every never-mail rule of the outbox holds (our own addresses,
undeliverable contacts, mail systems and no-reply senders, the cap per ticket and recipient),
and it never answers an automatic message (RFC 3834 section 2): a rule that heard an
auto-reply arrive still stores its row, withheld with the reason.

`automation.notify`: the values of the notice agents get (in-app and mail after each one's
preference, outbound_mail.services.notify), its title naming the rule.
"""

from django.utils.safestring import mark_safe

from outbound_mail import rendering
from outbound_mail.kinds import Kind
from outbound_mail.models import OutgoingMessage
from outbound_mail.services import outbox
from outbound_mail.services.outbox import EventContext, Recipient
from tickets import template_sandbox
from tickets.sanitize import text_to_html

Status = OutgoingMessage.Status
AFTER_AUTOMATIC = (
    "Not sent: the rule ran on an automatic message (an auto-reply); answering it could start "
    "a mail loop."
)


def rule_values(ctx: EventContext) -> dict[str, str]:
    """The canned-response placeholders: the ticket's, and the agent who applied a macro
    (empty for a rule, which no person ran)."""
    agent = ctx.actor
    return {
        **ctx.ticket_values,
        "agent_name": agent.display_name if agent else "",
        "agent_email": agent.email if agent else "",
    }


def on_mail(ctx: EventContext) -> None:
    requester = ctx.ticket.requester
    recipient = Recipient(requester.email.lower(), requester.name, contact=requester)
    # A text body only: the HTML part is made from it (escaped) when the mail is branded.
    source = rendering.Source(
        subject=str(ctx.data.get("subject", "")),
        body_text=str(ctx.data.get("body", "")),
        body_html="",
    )
    row = outbox.queue(
        ctx, Kind.AUTOMATION_MAIL, recipient, rule_values(ctx), automatic=True, source=source
    )
    if ctx.data.get("after_automatic") and row.status == Status.PENDING:
        row.status, row.last_error = Status.SUPPRESSED, AFTER_AUTOMATIC  # stored next, as is


def notice_values(ctx: EventContext) -> dict[str, str]:
    """The rule's message for the notice, and who sent it: {{ message_text }}, {{ rule_name }}."""
    kind = "macro" if ctx.data.get("kind") == "macro" else "automation"
    text = render_message(str(ctx.data.get("message", "")), rule_values(ctx))
    return {
        "message_text": text,
        "message_html": mark_safe(text_to_html(text)),  # noqa: S308 (escaped by text_to_html)
        "rule_name": str(ctx.data.get("rule", "")),
        "rule_kind": kind,
        "rule_label": kind.capitalize(),
    }


def render_message(template: str, values: dict[str, str]) -> str:
    """The message as text; one that fails on this data (past a limit) is shown as written,
    which still tells the agent what the rule wanted."""
    try:
        return template_sandbox.render_template(template, values, html=False, part="Message")
    except template_sandbox.TemplateError:
        return template
