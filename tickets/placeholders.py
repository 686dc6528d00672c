"""`{{ ticket.number }}`-style placeholders filled from a flat dict of plain strings.

Deliberately not a template language: nothing in a canned response can call code or reach an
object, because there are no objects, only the strings in the dict.
"""

import re

PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+(?:\.[a-z_]+)?)\s*\}\}")


def ticket_context(ticket, agent=None) -> dict[str, str]:
    requester = ticket.requester
    return {
        "ticket.number": str(ticket.number),
        "ticket.subject": ticket.subject,
        "ticket.status": ticket.status.name,
        "ticket.priority": ticket.priority.name,
        "requester.name": requester.name or requester.email.split("@")[0],
        "requester.email": requester.email,
        "agent.name": agent.display_name if agent else "",
        "agent.email": agent.email if agent else "",
        "organization.name": ticket.organization.name,
    }


def fill(text: str, context: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: context.get(m.group(1), m.group(0)), text)


AVAILABLE = [
    "ticket.number",
    "ticket.subject",
    "ticket.status",
    "ticket.priority",
    "requester.name",
    "requester.email",
    "agent.name",
    "agent.email",
    "organization.name",
]
