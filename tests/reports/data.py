"""The fixed data set of the report tests, written through the real services under a
controlled clock (Europe/Berlin, the week of Monday 2026-06-01), with the figures worked out
by hand beside it.

The tenant's zone is Berlin; an SLA policy (Mon-Fri 09:00-17:00, first response 60 min,
resolution 480 min) applies to the Support team only, so its tickets count business time
and the others clock time.

    T5  Support, email, Fri 29 May 12:00; resolved Mon 09:30 without a reply
        resolution 5h Fri + 0.5h Mon = 19800 s (met); first response breached at its due
        time Fri 13:00 (outside the range)
    T1  Support, email, Mon 10:00, agent; replied 10:30 (1800 s, met); resolved 12:00 (7200 s),
        closed 13:00 (done to done: no reopen, still resolved at 12:00)
    T2  Support, portal, Mon 16:00, agent; replied Tue 09:30 (1h Mon + 0.5h Tue = 5400 s,
        breached: due Tue 09:00); resolved Tue 11:00; the customer reopens Wed 10:00, a reply
        10:15, resolved again Wed 11:00: resolution 1h + 8h + 2h = 39600 s, 2 replies, 1 reopen;
        the resolution timer (4h spent) met
    T4  Support, email, Tue 08:00, unassigned; an internal note Tue 09:00; still open
    T3  no team, email, Sat 14:00, admin; replied 15:00 (3600 s of clock time); still open
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import time_machine

from tests.factories import make_ticket
from tests.sla.helpers import calendar, policy
from tickets.models import Status
from tickets.services.comments import comment_create
from tickets.services.tickets import ticket_change_status

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = {str(d): [["09:00", "17:00"]] for d in range(5)}


def at(text: str):
    when = datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=BERLIN)
    return time_machine.travel(when, tick=False)


def _ticket(tenant, when, *, source="email", team=True, assignee=None, email="carol@c.test"):
    with at(when):
        return make_ticket(
            tenant.org,
            email=email,
            source=source,
            team=tenant.team if team else None,
            assignee=assignee,
        )


def _reply(ticket, user, when, *, public=True):
    with at(when):
        comment_create(ticket=ticket, body_text="On it.", author_user=user, is_public=public)


def _customer(ticket, when):
    with at(when):
        comment_create(
            ticket=ticket,
            body_text="Still broken.",
            author_contact=ticket.requester,
            channel="email",
        )


def _status(ticket, name, when, user):
    with at(when):
        ticket_change_status(ticket=ticket, status=Status.objects.get(name=name), actor_user=user)


def build(tenant) -> dict:
    """The data set in `tenant` (whose scope is active); its tickets by name."""
    tenant.org.timezone = "Europe/Berlin"
    tenant.org.save(update_fields=["timezone"])
    policy(tenant.org, calendar(tenant.org, weekly=WEEK, holidays=()), team_ids=[tenant.team.pk])
    agent, admin = tenant.agent, tenant.admin

    t5 = _ticket(tenant, "2026-05-29 12:00")
    _status(t5, "Resolved", "2026-06-01 09:30", agent)

    t1 = _ticket(tenant, "2026-06-01 10:00", assignee=agent)
    _reply(t1, agent, "2026-06-01 10:30")
    _status(t1, "Resolved", "2026-06-01 12:00", agent)
    _status(t1, "Closed", "2026-06-01 13:00", agent)

    t2 = _ticket(tenant, "2026-06-01 16:00", source="portal", assignee=agent, email="dan@c.test")
    _reply(t2, agent, "2026-06-02 09:30")
    _status(t2, "Resolved", "2026-06-02 11:00", agent)
    _customer(t2, "2026-06-03 10:00")
    _reply(t2, agent, "2026-06-03 10:15")
    _status(t2, "Resolved", "2026-06-03 11:00", agent)

    t4 = _ticket(tenant, "2026-06-02 08:00")
    _reply(t4, agent, "2026-06-02 09:00", public=False)

    t3 = _ticket(tenant, "2026-06-06 14:00", team=False, assignee=admin)
    _reply(t3, admin, "2026-06-06 15:00")
    return {"t1": t1, "t2": t2, "t3": t3, "t4": t4, "t5": t5}


DAYS = [
    # day, created, resolved, open at the end (one open before: T5)
    ("2026-06-01", 2, 2, 1),
    ("2026-06-02", 1, 0, 2),
    ("2026-06-03", 0, 1, 1),
    ("2026-06-04", 0, 0, 1),
    ("2026-06-05", 0, 0, 1),
    ("2026-06-06", 1, 0, 2),
    ("2026-06-07", 0, 0, 2),
]
