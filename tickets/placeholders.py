"""The one list of placeholders, `{{ requester_name }}` style, and their values for a ticket:
what canned responses (and macros later) fill here, and what every mail template starts from
(outbound_mail.placeholders adds only what a mail knows on top).

Values are plain strings, never model objects: a template sees `{{ ticket_subject }}`, not a
Ticket, so there is no method to call and no relation to follow into another tenant's data.
Canned responses render in the same sandbox as mail templates (tickets.template_sandbox), as
text: they go into the reply box as the agent would type them.
"""

from dataclasses import dataclass

from tickets import template_sandbox


@dataclass(frozen=True)
class Placeholder:
    name: str
    description: str


# Shared by canned responses and every mail template, in the order both pages list them.
SHARED = [
    Placeholder("organization_name", "Your organization's name"),
    Placeholder("ticket_number", "The ticket number, e.g. 42"),
    Placeholder("ticket_subject", "The ticket's subject"),
    Placeholder("ticket_status", "The ticket's current status"),
    Placeholder("ticket_priority", "The ticket's priority"),
    Placeholder("requester_name", "The requester's name (or the start of their address)"),
    Placeholder("requester_email", "The requester's email address"),
    Placeholder("assignee_name", "The assigned agent's name, empty when unassigned"),
    Placeholder("team_name", "The ticket's team, empty when none"),
]
# What a canned response also knows: the agent inserting it, who is writing the reply.
REPLYING_AGENT = [
    Placeholder("agent_name", "The agent writing the reply"),
    Placeholder("agent_email", "That agent's email address"),
]
CANNED = SHARED + REPLYING_AGENT
AVAILABLE = CANNED


def _name_of(contact) -> str:
    return contact.name or contact.email.split("@")[0]


def ticket_values(ticket) -> dict[str, str]:
    """The SHARED values of `ticket` (which comes with its relations selected)."""
    return {
        "organization_name": ticket.organization.name,
        "ticket_number": str(ticket.number),
        "ticket_subject": ticket.subject,
        "ticket_status": ticket.status.name,
        "ticket_priority": ticket.priority.name,
        "requester_name": _name_of(ticket.requester),
        "requester_email": ticket.requester.email,
        "assignee_name": ticket.assignee.display_name if ticket.assignee_id else "",
        "team_name": ticket.team.name if ticket.team_id else "",
    }


def canned_values(ticket, agent=None) -> dict[str, str]:
    return {
        **ticket_values(ticket),
        "agent_name": agent.display_name if agent else "",
        "agent_email": agent.email if agent else "",
    }


def sample_canned_values() -> dict[str, str]:
    """Every canned placeholder filled with an example: what a canned response is checked with."""
    return {p.name: f"[{p.name}]" for p in CANNED}


def check_canned(body: str) -> None:
    """Raise template_sandbox.TemplateError unless `body` compiles and renders."""
    template_sandbox.render_template(
        body, sample_canned_values(), html=False, part="Canned response"
    )


def render_canned(body: str, ticket, agent=None) -> str:
    """The canned response filled for `ticket`; a row that does not render (one saved before
    it was checked) is inserted as written, for the agent to fix by hand."""
    try:
        return template_sandbox.render_template(
            body, canned_values(ticket, agent), html=False, part="Canned response"
        )
    except template_sandbox.TemplateError:
        return body
