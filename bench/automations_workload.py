"""The workload of bench/automations.py: the tenant, its 100 rules (a helpdesk's mix over
every event trigger, 50 of them with text conditions) and the domain events its tickets,
comments and changes produce, made through the real services with every subscriber off and
recorded (SLA warnings and breaches added as the SLA scan emits them)."""

import random

SLUG = "bench-automations"
AGENTS = 6

BILLING = ["invoice", "refund", "billing", "charge", "payment", "receipt", "vat", "subscription"]
TECH = ["crash", "error", "login", "password", "sso", "api", "timeout", "bug", "export"]
URGENT = ["urgent", "asap", "immediately", "outage", "down", "critical"]
# Words of ordinary mail, none of which a rule looks for.
NEUTRAL = [
    "hello",
    "hi",
    "please",
    "could",
    "you",
    "help",
    "me",
    "with",
    "the",
    "my",
    "our",
    "a",
    "an",
    "this",
    "that",
    "it",
    "is",
    "was",
    "we",
    "have",
    "not",
    "does",
    "do",
    "working",
    "again",
    "today",
    "yesterday",
    "since",
    "morning",
    "team",
    "colleague",
    "printer",
    "question",
    "account",
    "update",
    "delivery",
    "report",
    "settings",
    "mobile",
    "access",
    "page",
    "screen",
    "email",
    "message",
    "attached",
    "file",
    "see",
    "below",
    "regards",
    "best",
    "kind",
    "know",
    "when",
    "where",
    "how",
    "why",
    "what",
    "new",
    "old",
    "still",
    "also",
    "just",
    "problem",
    "issue",
    "change",
    "want",
    "need",
    "get",
    "got",
    "show",
    "shows",
    "number",
    "customer",
    "office",
    "week",
    "month",
]
PATTERNS = [
    r"order\s*#?\d{6}",
    r"\b[A-Z]{2}-\d{4,}\b",
    r"(?:cancel|terminate)\w*\s+(?:my\s+)?plan",
    r"\bv\d+\.\d+(?:\.\d+)?\b",
    r"[\w.+-]+@competitor\.test",
]


# -- the rules ---------------------------------------------------------------------------------


def _words(field: str, words: list[str], op: str = "contains_any") -> dict:
    return {"field": field, "op": op, "value": words}


def rule_specs(ids: dict) -> list[dict]:
    """100 rules: (trigger, options, conditions, actions), 50 of them with text conditions."""
    rng = random.Random(5)
    specs: list[dict] = []

    def add(trigger, actions, *, options=None, all_=(), any_=(), text=False, stop=False):
        specs.append(
            {
                "trigger": trigger,
                "options": options or {},
                "actions": actions,
                "text": text,
                "conditions": {"all": list(all_), "any": list(any_)},
                "stop": stop,
            }
        )

    team, statuses, priorities = ids["teams"], ids["statuses"], ids["priorities"]
    route = {"billing": BILLING, "tech": TECH}
    # ticket created: 30 (routing by words, patterns, sources, customers)
    for n in range(8):
        name = "billing" if n % 2 == 0 else "tech"
        words = rng.sample(route[name], 3)
        field = "subject" if n < 4 else "comment_text"
        add(
            "ticket_created",
            [
                {"type": "set_team", "team_id": team[name]},
                {"type": "assign", "mode": "round_robin", "team_id": team[name]},
            ],
            all_=[_words(field, words)],
            text=True,
        )
    for n in range(4):
        add(
            "ticket_created",
            [{"type": "add_tags", "names": [f"ref-{n}"]}],
            all_=[{"field": "comment_text", "op": "matches", "value": PATTERNS[n]}],
            text=True,
        )
    for n in range(3):
        add(
            "ticket_created",
            [
                {"type": "set_priority", "priority_id": priorities["High"]},
                {"type": "add_tags", "names": ["hot"]},
            ],
            any_=[
                _words("subject", URGENT[n * 2 : n * 2 + 2]),
                _words("comment_text", URGENT[n * 2 : n * 2 + 2]),
            ],
            text=True,
        )
    for source in ("email", "portal", "contact_form", "api", "agent"):
        add(
            "ticket_created",
            [{"type": "add_tags", "names": [f"via-{source}"]}],
            options={"sources": [source]},
        )
    for n in range(5):
        add(
            "ticket_created",
            [{"type": "add_tags", "names": [f"domain-{n}"]}],
            all_=[{"field": "requester_domain", "op": "is", "value": [f"customer{n}.test"]}],
        )
    for n in range(5):
        add(
            "ticket_created",
            [{"type": "set_team", "team_id": team["support"]}],
            all_=[
                {"field": "team", "op": "is_not_set"},
                {"field": "priority", "op": "is", "value": [priorities["Low"]]},
                {"field": "tags", "op": "has_any", "value": [f"never-{n}"]},
            ],
        )
    # comment added: 30
    for _ in range(8):
        words = rng.sample(BILLING + TECH + URGENT, 4)
        add(
            "comment_added",
            [{"type": "add_tags", "names": [f"said-{words[0]}"]}],
            options={"author": "customer", "visibility": "public"},
            all_=[_words("comment_text", words)],
            text=True,
        )
    for n in range(4):
        add(
            "comment_added",
            [{"type": "set_priority", "priority_id": priorities["Urgent"]}],
            options={"author": "customer"},
            all_=[
                _words("comment_text", URGENT[n : n + 2]),
                {"field": "priority", "op": "at_most", "value": [priorities["High"]]},
            ],
            text=True,
        )
    add(
        "comment_added",
        [{"type": "add_tags", "names": ["churn-risk"]}],
        all_=[{"field": "comment_text", "op": "matches", "value": PATTERNS[2]}],
        text=True,
    )
    add(
        "comment_added",
        [{"type": "add_tags", "names": ["competitor"]}],
        all_=[{"field": "comment_text", "op": "matches", "value": PATTERNS[4]}],
        text=True,
    )
    add(
        "comment_added",
        [{"type": "add_note", "body": "Customer mentioned {{ ticket_subject }}."}],
        options={"author": "customer", "visibility": "public"},
        all_=[
            _words("comment_text", ["thanks", "resolved", "works"]),
            {"field": "status_category", "op": "is", "value": ["pending"]},
        ],
        text=True,
    )
    for n in range(4):
        add(
            "comment_added",
            [{"type": "add_tags", "names": [f"came-back-{n}"]}],
            options={"author": "customer", "visibility": "public"},
            all_=[
                {"field": "team", "op": "is", "value": [list(team.values())[n % 3]]},
                {"field": "tags", "op": "has_none", "value": [f"came-back-{n}"]},
                {"field": "priority", "op": "at_least", "value": [priorities["High"]]},
            ],
        )
    for n in range(5):
        add(
            "comment_added",
            [{"type": "set_status", "status_id": statuses["Pending"]}],
            options={"author": "agent", "visibility": "public"},
            all_=[
                {"field": "status_category", "op": "is", "value": ["open"]},
                {"field": "tags", "op": "has_any", "value": [f"wait-{n}"]},
            ],
        )
    for n in range(6):
        add(
            "comment_added",
            [{"type": "add_tags", "names": [f"touched-{n}"]}],
            options={"author": "agent", "visibility": "internal"},
            all_=[
                {"field": "team", "op": "is", "value": [list(team.values())[n % 3]]},
                {"field": "actor", "op": "is", "value": ["agent"]},
                {"field": "tags", "op": "has_none", "value": [f"touched-{n}"]},
            ],
        )
    # status changed: 10
    for n in range(5):
        add(
            "status_changed",
            [{"type": "add_tags", "names": [f"parked-{n}"]}],
            options={"to_status_ids": [statuses["Pending"]]},
            all_=[_words("subject", rng.sample(NEUTRAL + BILLING, 3))],
            text=True,
        )
    for n in range(5):
        add(
            "status_changed",
            [{"type": "remove_tags", "names": ["hot", f"parked-{n}"]}],
            options={"to_status_ids": [statuses["Resolved"]]},
            all_=[{"field": "tags", "op": "has_any", "value": ["hot", f"parked-{n}"]}],
        )
    # priority changed: 10
    for _ in range(5):
        add(
            "priority_changed",
            [
                {
                    "type": "notify",
                    "target": "team_managers",
                    "team_id": None,
                    "message": "{{ ticket_subject }} is urgent now.",
                }
            ],
            options={"to_priority_ids": [priorities["Urgent"]]},
            all_=[_words("subject", rng.sample(BILLING + TECH, 3))],
            text=True,
        )
    for n in range(5):
        add(
            "priority_changed",
            [{"type": "set_team", "team_id": team["tech"]}],
            options={"to_priority_ids": [priorities["Urgent"]]},
            all_=[
                {"field": "team", "op": "is_not_set"},
                {
                    "field": "source",
                    "op": "is",
                    "value": [["email", "portal", "api", "agent", "contact_form"][n]],
                },
            ],
        )
    # assigned: 10
    for n in range(5):
        add(
            "assigned",
            [{"type": "add_tags", "names": [f"owned-{n}"]}],
            options={"change": "assigned"},
            all_=[_words("subject", rng.sample(TECH + NEUTRAL, 3))],
            text=True,
        )
    for n in range(5):
        add(
            "assigned",
            [{"type": "set_status", "status_id": statuses["Open"]}],
            options={"change": "assigned"},
            all_=[
                {"field": "status_category", "op": "is", "value": ["new"]},
                {"field": "tags", "op": "has_any", "value": [f"owned-{n}"]},
            ],
        )
    # SLA: 10
    for n in range(5):
        add(
            "sla_warning",
            [{"type": "notify", "target": "team", "team_id": None, "message": "SLA at risk."}],
            options={"targets": [["first_response", "next_response", "resolution"][n % 3]]},
            all_=[_words("subject", rng.sample(BILLING + TECH + NEUTRAL, 4))],
            text=True,
        )
    for n in range(5):
        add(
            "sla_breached",
            [{"type": "set_priority", "priority_id": priorities["Urgent"]}],
            all_=[
                {"field": "priority", "op": "is_not", "value": [priorities["Urgent"]]},
                {"field": "team", "op": "is", "value": [list(team.values())[n % 3]]},
            ],
        )
    assert len(specs) == 100, len(specs)
    assert sum(s["text"] for s in specs) == 50, sum(s["text"] for s in specs)
    return specs


# -- the tenant and its events -----------------------------------------------------------------


def build_tenant():
    from django_scopes import scopes_disabled

    from tenants import services as tenant_services
    from tenants.models import Organization, TeamMember
    from tickets.models import Ticket

    with scopes_disabled():  # the benchmark's own tenant, rebuilt from nothing each run
        Ticket.objects.filter(organization__slug=SLUG).delete()  # they PROTECT contacts
        Organization.objects.filter(slug=SLUG).delete()
    org = tenant_services.organization_create(slug=SLUG, name="Bench Automations")
    from tenants.scoping import tenant_scope

    with tenant_scope(org):
        agents = [
            tenant_services.user_get_or_create(email=f"agent{n}@{SLUG}.test", name=f"Agent {n}")
            for n in range(AGENTS)
        ]
        for agent in agents:
            tenant_services.membership_add(organization=org, user=agent, role="agent")
        teams = {
            "billing": tenant_services.team_create(
                organization=org, name="Billing", members=agents[:3]
            ),
            "tech": tenant_services.team_create(organization=org, name="Tech", members=agents[3:]),
            "support": tenant_services.team_create(
                organization=org, name="Support", members=agents
            ),
        }
        TeamMember.objects.filter(user=agents[0]).update(is_manager=True)
    return org, agents, teams


def make_rules(org, teams) -> int:
    from automations import rules_cache
    from automations.models import Rule
    from tickets.models import Priority, Status

    ids = {
        "teams": {k: t.pk for k, t in teams.items()},
        "statuses": dict(Status.objects.values_list("name", "id")),
        "priorities": dict(Priority.objects.values_list("name", "id")),
    }
    rows = [
        Rule(
            organization=org,
            name=f"Rule {n:03} ({s['trigger']})",
            position=n,
            trigger=s["trigger"],
            trigger_options=s["options"],
            conditions=s["conditions"],
            actions=s["actions"],
            stop_processing=s["stop"],
        )
        for n, s in enumerate(rule_specs(ids))
    ]
    Rule.objects.bulk_create(rows)
    rules_cache.bump(org.pk)
    return len(rows)


def _text(rng: random.Random, n: int) -> str:
    """Ordinary words; a fifth of the texts are about billing, a fifth about a technical
    problem (a word or two each), a few urgent, a few with an order number or a cancellation."""
    words = [rng.choice(NEUTRAL) for _ in range(n)]
    topic = rng.random()
    if topic < 0.2:
        words[rng.randrange(n)] = rng.choice(BILLING)
    elif topic < 0.4:
        words[rng.randrange(n)] = rng.choice(TECH)
    if rng.random() < 0.04:
        words.append(rng.choice(URGENT))
    if rng.random() < 0.05:
        words.append(f"order #{rng.randint(100000, 999999)}")
    if rng.random() < 0.02:
        words.append("please cancel my plan")
    return " ".join(words).capitalize() + "."


def record_events(org, agents, teams, count: int) -> list:
    """Make the tickets, comments and changes through the services (nobody listening) and
    keep the domain events they emit: what the feed emits again, `count` of them."""
    from django.db import transaction

    from tickets import events
    from tickets.models import Priority, Status
    from tickets.services.bulk import Bulk
    from tickets.services.comments import comment_create
    from tickets.services.contacts import contact_get_or_create
    from tickets.services.tickets import (
        ticket_assign,
        ticket_change_priority,
        ticket_change_status,
        ticket_create,
    )

    rng = random.Random(11)
    recorded: list = []
    saved = dict(events._subscribers)
    events._subscribers.clear()  # nobody hears the set-up; the recorder keeps what it emits
    for name in (
        events.TICKET_CREATED,
        events.COMMENT_ADDED,
        events.STATUS_CHANGED,
        events.PRIORITY_CHANGED,
        events.ASSIGNED,
    ):
        events.subscribe(name, recorded.append)
    try:
        n_tickets = count * 3 // 10
        by_mail = n_tickets * 6 // 10
        for start in range(0, by_mail, 200):
            bulk = Bulk(org)
            for i in range(start, min(by_mail, start + 200)):
                bulk.open_ticket(
                    i,
                    subject=_text(rng, 4),
                    body_text=_text(rng, 40),
                    requester=(f"c{i % 400}@customer{i % 40}.test", f"C {i}"),
                )
            with transaction.atomic():
                bulk.flush()
        sources = ["portal", "portal", "agent", "contact_form", "api"]
        for i in range(by_mail, n_tickets):
            source = sources[i % len(sources)]
            requester = contact_get_or_create(
                organization=org, email=f"c{i % 400}@customer{i % 40}.test"
            )
            ticket_create(
                organization=org,
                subject=_text(rng, 4),
                requester=requester,
                body_text=_text(rng, 40),
                source=source,
                actor_user=agents[i % AGENTS] if source == "agent" else None,
            )
        tickets = list(_tickets())
        statuses = {s.name: s for s in Status.objects.all()}
        priorities = {p.name: p for p in Priority.objects.all()}
        comments = count * 4 // 10
        replies = rng.choices(tickets, k=comments * 6 // 10)
        for start in range(0, len(replies), 200):
            bulk = Bulk(org)
            chunk = {t.pk: t for t in replies[start : start + 200]}  # each ticket once a round
            with transaction.atomic():  # Bulk replies on tickets the caller holds locked
                for ticket in _tickets(list(chunk)).select_for_update(of=("self",)):
                    bulk.add_reply(
                        ticket.pk,
                        ticket=ticket,
                        author=(ticket.requester.email, ""),
                        body_text=_text(rng, 30),
                    )
                bulk.flush()
        for ticket in rng.choices(tickets, k=comments - len(replies)):
            comment_create(
                ticket=ticket,
                body_text=_text(rng, 15),
                author_user=rng.choice(agents),
                is_public=rng.random() < 0.6,
            )
        for ticket in rng.choices(tickets, k=count * 12 // 100):
            name = rng.choice(["Open", "Pending", "Pending", "Resolved", "On hold"])
            ticket_change_status(
                ticket=ticket, status=statuses[name], actor_user=rng.choice(agents)
            )
        for ticket in rng.choices(tickets, k=count * 6 // 100):
            name = rng.choice(["Low", "High", "Urgent", "Urgent"])
            ticket_change_priority(ticket=ticket, priority=priorities[name], actor_user=agents[0])
        for ticket in rng.choices(tickets, k=count * 6 // 100):
            ticket_assign(ticket=ticket, assignee=rng.choice(agents), actor_user=agents[0])
        sla = count - len(recorded)
        for n, ticket in enumerate(rng.choices(tickets, k=max(0, sla))):
            name = events.SLA_WARNING if n % 2 else events.SLA_BREACHED
            target = ["first_response", "next_response", "resolution"][n % 3]
            recorded.append(
                events.DomainEvent(
                    name,
                    org.pk,
                    ticket.pk,
                    None,
                    {"target": target, "due_at": "2026-05-26T10:00:00+00:00"},
                )
            )
    finally:
        events._subscribers.clear()
        events._subscribers.update(saved)
    rng.shuffle(recorded)  # tickets interleave, as a helpdesk's day does
    return recorded[:count]


def _tickets(ids=None):
    from tickets.models import Ticket

    rows = Ticket.objects.select_related("status", "requester").order_by("pk")
    return rows.filter(pk__in=ids) if ids is not None else rows
