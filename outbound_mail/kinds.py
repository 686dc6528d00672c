"""The kinds of mail and notification we send, who each is for, and how each behaves.

A kind names a template, a preference row and an OutgoingMessage's purpose. Customer kinds go
to requesters and collaborators; agent kinds go to members, after each one's preferences.
"""

from django.db import models


class Kind(models.TextChoices):
    NEW_TICKET_CONFIRMATION = "new_ticket_confirmation", "New ticket confirmation"
    AGENT_REPLY = "agent_reply", "Agent reply"
    TICKET_RESOLVED = "ticket_resolved", "Ticket resolved"
    STATUS_CHANGED = "status_changed", "Status changed"
    NEW_TICKET_ALERT = "new_ticket_alert", "New ticket alert"
    CUSTOMER_REPLY = "customer_reply", "Customer reply"
    ASSIGNMENT = "assignment", "Assignment"
    SLA_WARNING = "sla_warning", "SLA warning"
    SLA_BREACH = "sla_breach", "SLA breach"
    STAFF_MAIL_UNVERIFIED = "staff_mail_unverified", "Unverified mail in your name"
    FORWARD = "forward", "Forwarded message"
    TEST = "test", "Test email"
    AUTOMATION_MAIL = "automation_mail", "Automation mail to the requester"
    AUTOMATION_NOTICE = "automation_notice", "Automation notice"
    PORTAL_SIGN_IN = "portal_sign_in", "Portal sign-in link"
    STAFF_REPLY_HELD = "staff_reply_held", "Your reply by mail was held"


CUSTOMER_KINDS = (
    Kind.NEW_TICKET_CONFIRMATION,
    Kind.AGENT_REPLY,
    Kind.TICKET_RESOLVED,
    Kind.STATUS_CHANGED,
    Kind.AUTOMATION_MAIL,
)
AGENT_KINDS = (
    Kind.NEW_TICKET_ALERT,
    Kind.CUSTOMER_REPLY,
    Kind.ASSIGNMENT,
    Kind.SLA_WARNING,
    Kind.SLA_BREACH,
    Kind.AUTOMATION_NOTICE,
)
# What an automation rule (or a macro) sends says what its author wrote there
# (outbound_mail.services.automation_mail), so the tenant has no template to edit for them; the
# notice still has a preference row like every agent kind.
RULE_KINDS = (Kind.AUTOMATION_MAIL, Kind.AUTOMATION_NOTICE)
TEMPLATE_KINDS = tuple(k for k in CUSTOMER_KINDS + AGENT_KINDS if k not in RULE_KINDS)
# Notices to one agent about their own mail: always mailed (no preference turns them off),
# always the shipped template (no tenant template can hide what they say). A reply the send
# guard held reaches the customer only through the link in its notice: muted, it would wait
# unseen (tickets.services.send_guard).
NOTICE_KINDS = (Kind.STAFF_MAIL_UNVERIFIED, Kind.STAFF_REPLY_HELD)
# The portal's sign-in link to a contact (outbound_mail.services.portal_mail): a security
# notice of its own, about no ticket; always mailed, always the shipped template.
PORTAL_KINDS = (Kind.PORTAL_SIGN_IN,)
# What a contact's portal choice "No mail" (Contact.mail_replies False) withholds: the updates
# about their tickets. The confirmation of a ticket they opened still goes.
REPLY_CHOICE_KINDS = (Kind.AGENT_REPLY, Kind.TICKET_RESOLVED, Kind.STATUS_CHANGED)
# An agent's forward to any address (outbound_mail.services.forwarding): a human message sent at
# once, always the shipped template, never folded, no preference.
# Customer updates wait for the debounce and fold into one message per ticket and recipient.
FOLDING_KINDS = (Kind.AGENT_REPLY, Kind.TICKET_RESOLVED, Kind.STATUS_CHANGED)
# What Auto-Submitted (RFC 3834 section 5) says for each automatic kind; human replies have none.
AUTO_SUBMITTED = {
    Kind.NEW_TICKET_CONFIRMATION: "auto-replied",  # a direct answer to the customer's message
    Kind.TICKET_RESOLVED: "auto-generated",
    Kind.STATUS_CHANGED: "auto-generated",
    Kind.AUTOMATION_MAIL: "auto-generated",
    **dict.fromkeys(AGENT_KINDS, "auto-generated"),
    **dict.fromkeys(NOTICE_KINDS, "auto-generated"),
    **dict.fromkeys(PORTAL_KINDS, "auto-generated"),
}


class Channel(models.TextChoices):
    """How an agent hears about one kind of event."""

    BOTH = "both", "Email and in-app"
    EMAIL = "email", "Email only"
    IN_APP = "in_app", "In-app only"
    NONE = "none", "Neither"


DEFAULT_CHANNEL = Channel.BOTH

# Domain events the SLA work emits (through tickets.events.emit) for this app to mail. Data:
# {"target": "first_response" | "resolution", "due_at": ISO 8601 datetime}. Nothing emits them
# yet; the subscriptions and templates are ready for when the SLA scanner does.
SLA_WARNING = "sla.warning"
SLA_BREACHED = "sla.breached"

# Templates that start switched off: a customer hears about every status change only if the
# tenant asks for it (replies and resolution are mailed anyway).
DISABLED_BY_DEFAULT = (Kind.STATUS_CHANGED,)
