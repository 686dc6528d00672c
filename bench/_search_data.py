"""The search benchmark's data: 10 tenants, 100,000 tickets each (3 comments a ticket on
average), written with PostgreSQL COPY by two worker processes (one tenant at a time each).

Per tenant: 25 agents in 5 teams (the same 25 users in every tenant), 2,000 customers with a
mail domain each, 20,000 contacts (names with accents, most at a customer's domain), 100,000
tickets over the year before the build (more on weekdays and office hours, in the tenant's
time zone), 300,000 comments (the customer's mail, agents' replies, internal notes; common
words, invoice codes like "invoice 4471", order numbers, a few rare words), about 50,000
attachments' names, the timeline (created, comment, assignee and status events, with
resolutions, closures and reopenings) and two SLA timers a ticket (first response and
resolution on an office-hours calendar, met or breached).

Ids are given here (one block per tenant), so every table goes in with one COPY and the rows
point at each other without a lookup; the identity sequences are moved past them at the end.
Everything is drawn from `random.Random(seed + tenant)`: the same build gives the same data.
"""

import random
import time
from datetime import UTC, datetime, timedelta

ORGS = 10
PER_ORG = 100_000
CONTACTS = 20_000
CUSTOMERS = 2_000
AGENTS = 25
TEAMS = ["Billing", "Technical", "Onboarding", "Sales", "Support"]
DAYS = 365
TIMEZONES = ["Europe/Berlin", "America/New_York", "Europe/London", "Asia/Tokyo", "UTC"]
# The searches the benchmark makes, and how often their words occur (see _Texts).
RARE_WORDS = 2_000  # each in about 0.02 * 3,000,000 / 2,000 = 30 comments over all tenants
FIRST_NAMES = [
    "Anna",
    "Ben",
    "Chloé",
    "Daniel",
    "Elif",
    "Farah",
    "Georg",
    "Hanna",
    "Ivan",
    "Jürgen",
    "Kenji",
    "Lena",
    "Mateo",
    "Nora",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
    "Søren",
    "Tomás",
    "Ursula",
    "Vera",
    "Wei",
    "Xavier",
    "Yara",
    "Zoë",
    "Amélie",
    "Björn",
    "Carmen",
    "Dmitri",
    "Emma",
    "François",
    "Greta",
    "Hugo",
    "Ingrid",
    "José",
    "Karin",
    "Luis",
    "Malik",
    "Nadia",
    "Olga",
    "Paulo",
    "Rania",
    "Stefan",
    "Tariq",
    "Uma",
    "Viktor",
    "Wanda",
    "Yusuf",
    "Zeynep",
]
LAST_NAMES = [
    "Müller",
    "Schmidt",
    "Dubois",
    "García",
    "Rossi",
    "Nowak",
    "Jensen",
    "Kowalski",
    "Silva",
    "Novak",
    "Horvat",
    "Yilmaz",
    "Tanaka",
    "Kim",
    "Nguyen",
    "Smith",
    "Johnson",
    "Brown",
    "Martin",
    "Bernard",
    "Lefèvre",
    "Fernández",
    "López",
    "Pérez",
    "Gómez",
    "Ricci",
    "Romano",
    "Bauer",
    "Becker",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Richter",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Krüger",
    "Hartmann",
    "Lange",
    "Werner",
    "Krause",
    "Meier",
    "Lehmann",
    "Huber",
    "Kaiser",
    "Fuchs",
    "Peters",
    "Scholz",
    "Möller",
]
COMPANY_A = [
    "Acme",
    "Blue",
    "Northern",
    "Silver",
    "Rapid",
    "Bright",
    "Golden",
    "Urban",
    "Alpine",
    "Coastal",
    "Prime",
    "Vertex",
    "Summit",
    "Harbor",
    "Cedar",
    "Crystal",
    "Iron",
    "Maple",
    "Nova",
    "Pioneer",
]
COMPANY_B = [
    "Logistics",
    "Foods",
    "Analytics",
    "Dental",
    "Robotics",
    "Textiles",
    "Media",
    "Energy",
    "Pharma",
    "Travel",
    "Insurance",
    "Bakery",
    "Studios",
    "Hardware",
    "Consulting",
    "Motors",
    "Brewing",
    "Labs",
    "Finance",
    "Systems",
]
PRODUCTS = [
    "printer",
    "VPN client",
    "mobile app",
    "dashboard",
    "API",
    "webhook",
    "single sign-on",
    "invoice portal",
    "CSV export",
    "billing page",
    "router",
    "laptop",
    "Outlook plugin",
    "calendar sync",
    "scanner",
    "label printer",
    "warehouse app",
    "reporting module",
]
SUBJECTS = [
    "{product} not working",
    "Problem with the {product}",
    "Question about invoice {invoice}",
    "Invoice {invoice} is wrong",
    "Refund for order {order}",
    "Cannot log in",
    "Password reset does not arrive",
    "{product} shows error {errno}",
    "Upgrade to the premium plan",
    "Double charge on invoice {invoice}",
    "{product} is very slow since yesterday",
    "How do I export my data?",
    "Printer offline again",
    "Delivery of order {order} is late",
    "Add a new user to our account",
    "Cancel my subscription",
    "Re: {product} crash after update",
    "Urgent: {product} down for the whole office",
]
CUSTOMER_SENTENCES = [
    "Since this morning the {product} shows an error when I try to log in.",
    "Could you please check invoice {invoice}? The amount looks wrong to me.",
    "We were charged twice for order {order}, please refund one of the payments.",
    "The {product} keeps crashing after the latest update to version {version}.",
    "I attached a screenshot of the error message ({errno}).",
    "Please help, nobody in the office can print since the printer went offline.",
    "The password reset mail never arrives, I checked the spam folder too.",
    "Our accountant needs a copy of invoice {invoice} with our new address.",
    "Is there a way to export all tickets of last year as a CSV file?",
    "The {product} is extremely slow, every page takes more than ten seconds.",
    "We would like to upgrade our account to the premium plan.",
    "My colleague {name} cannot access the shared calendar anymore.",
    "The delivery of order {order} was supposed to arrive on Monday.",
    "Please cancel the subscription for our second location.",
    "After the update the {product} forgets my settings every time.",
    "We get error {errno} when the webhook calls our server.",
    "Thanks for the quick reply, that fixed it for us.",
    "Unfortunately the problem is back, same error as before.",
    "Can you call me back? My number is in the signature.",
    "I tried restarting the {product} but nothing changed.",
    "The invoice {invoice} lists three licenses but we only have two.",
    "Where can I download the latest version of the {product}?",
    "Our VPN connection drops every few minutes since Tuesday.",
    "The label printer prints empty labels after the driver update.",
]
AGENT_SENTENCES = [
    "Thank you for reaching out, I am sorry for the trouble with the {product}.",
    "I have checked invoice {invoice} and corrected the amount, a new copy is attached.",
    "Could you please send us a screenshot of the error and the time it happened?",
    "The refund for order {order} has been issued and should arrive within five days.",
    "Please restart the {product} and clear the cache, then try again.",
    "We have identified the issue and a fix will be released with version {version}.",
    "I reset the password for your account, please check your inbox.",
    "Your account has been upgraded to the premium plan.",
    "The printer driver {version} fixes the offline problem, please install it.",
    "I am escalating this to our second level team, we will get back to you today.",
    "Can you confirm that the problem is solved so I can close this ticket?",
    "You can export your data under Settings, Export, as a CSV file.",
    "The subscription has been cancelled, you will not be charged again.",
    "Please make sure the webhook endpoint answers within ten seconds.",
    "I have added {name} to your account with the same permissions as you.",
    "The delivery of order {order} was delayed by the carrier, it ships tomorrow.",
]
NOTE_SENTENCES = [
    "Customer is on the legacy plan, check with billing before refunding.",
    "Same issue as last week, probably the {product} release {version}.",
    "Called the customer, no answer. Will try again tomorrow.",
    "Invoice {invoice} was created manually, the tax rate is wrong.",
    "Escalated to engineering, see the internal bug tracker.",
    "Do not promise a date for the fix yet.",
    "VIP customer, please handle with priority.",
    "Looks like a duplicate of an older ticket from {name}.",
]
GREETINGS = ["Hello,", "Hi,", "Dear support,", "Good morning,", "Hi team,", ""]
AGENT_GREETINGS = ["Hello {first},", "Hi {first},", "Dear {first},"]
ATTACHMENTS = [
    "invoice-{invoice}.pdf",
    "screenshot {date}.png",
    "error_log_{errno}.txt",
    "order-{order}-receipt.pdf",
    "IMG_{errno}.jpg",
    "contract {company}.docx",
    "export_{date}.csv",
]
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "txt": "text/plain",
    "jpg": "image/jpeg",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "csv": "text/csv",
}
# Hours of the day a ticket is opened (local time), weighted: office hours carry most.
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 8, 14, 16, 15, 14, 10, 13, 14, 13, 11, 8, 5, 4, 3, 2, 2, 1]
FIRST_RESPONSE_MINUTES = 240
RESOLUTION_MINUTES = 1_440
OFFICE = {d: [("08:00", "18:00")] for d in range(5)}
NULL = "\\N"  # COPY's NULL
_COPY_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def rare_word(i: int) -> str:
    """The i-th rare word: made up from syllables, so it occurs only where it was put."""
    syllables = ["zor", "qua", "vex", "lum", "tir", "bex", "nox", "kri", "pal", "dru"]
    a, b, c, d = i % 10, i // 10 % 10, i // 100 % 10, i // 1000 % 10
    return syllables[a] + syllables[b] + syllables[c] + syllables[d] + "ix"


def esc(value: str) -> str:
    return value.translate(_COPY_ESCAPE)


def ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class Ids:
    """The first id of each table's block for tenant `index` (blocks sized to the most rows
    a tenant can have)."""

    SIZES = {
        "customer": CUSTOMERS,
        "contact": CONTACTS,
        "ticket": PER_ORG,
        "comment": PER_ORG * 5,
    }

    def __init__(self, bases: dict[str, int], index: int):
        self.base = {name: bases[name] + index * size for name, size in self.SIZES.items()}


def generate(cur, *, org: dict, index: int, bases: dict[str, int], end: float, seed: int):
    """Writes one tenant's rows with COPY; returns {table: rows}."""
    from sla.calendar import BusinessCalendar

    rng = random.Random(seed + index)
    ids = Ids(bases, index).base
    calendar = BusinessCalendar(tz=org["timezone"], weekly=OFFICE)
    counts = {}
    customers = _customers(rng, org, ids["customer"])
    counts["tickets_customer"] = _copy(
        cur,
        "tickets_customer (id, organization_id, name, created_at)",
        (f"{c['id']}\t{org['id']}\t{c['name']}\t{ts(end - DAYS * 86400)}\n" for c in customers),
    )
    counts["tickets_customerdomain"] = _copy(
        cur,
        "tickets_customerdomain (organization_id, customer_id, domain)",
        (f"{org['id']}\t{c['id']}\t{c['domain']}\n" for c in customers),
    )
    contacts = _contacts(rng, customers, ids["contact"])
    counts["tickets_contact"] = _copy(
        cur,
        "tickets_contact (id, organization_id, email, name, customer_id, undeliverable, "
        "undeliverable_reason, notes, mail_replies, created_at)",
        (
            f"{c['id']}\t{org['id']}\t{c['email']}\t{c['name']}\t{c['customer'] or NULL}\t"
            f"f\t\t\tt\t{ts(end - DAYS * 86400)}\n"
            for c in contacts
        ),
    )
    tickets = _Tickets(rng, org, ids, contacts, calendar, end)
    for number in range(1, PER_ORG + 1):
        tickets.add(number)
    for table, columns in _Tickets.COLUMNS.items():
        counts[table] = _copy(cur, f"{table} ({columns})", tickets.rows[table])
    cur.execute(
        "UPDATE tenants_organization SET last_ticket_number = %s WHERE id = %s",
        [PER_ORG, org["id"]],
    )
    return counts


def _copy(cur, target: str, lines) -> int:
    count = 0
    chunk: list[str] = []
    with cur.copy(f"COPY {target} FROM STDIN") as copy:
        for line in lines:
            chunk.append(line)
            if len(chunk) >= 20_000:
                copy.write("".join(chunk))
                count += len(chunk)
                chunk = []
        if chunk:
            copy.write("".join(chunk))
            count += len(chunk)
    return count


def _customers(rng: random.Random, org: dict, first_id: int) -> list[dict]:
    rows = []
    for i in range(CUSTOMERS):
        name = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)} {i}"
        domain = name.lower().replace(" ", "-") + ".example"
        rows.append({"id": first_id + i, "name": name, "domain": domain})
    return rows


def _contacts(rng: random.Random, customers: list[dict], first_id: int) -> list[dict]:
    rows = []
    for i in range(CONTACTS):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{_ascii(first)}.{_ascii(last)}{i}".lower()
        if rng.random() < 0.8:
            customer = rng.choice(customers)
            email, customer_id = f"{local}@{customer['domain']}", customer["id"]
        else:
            email, customer_id = f"{local}@{rng.choice(['gmail', 'web', 'outlook'])}.test", None
        rows.append(
            {
                "id": first_id + i,
                "email": email,
                "name": f"{first} {last}",
                "first": first,
                "customer": customer_id,
            }
        )
    return rows


def _ascii(name: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()


class _Tickets:
    """One tenant's tickets and everything hanging off them, as COPY lines per table."""

    COLUMNS = {
        "tickets_ticket": (
            "id, organization_id, number, subject, status_id, status_category, priority_id, "
            "assignee_id, team_id, requester_id, customer_id, source, last_message_preview, "
            "created_at, updated_at, last_activity_at, first_response_at, resolved_at, "
            "closed_at, status_changed_at, last_customer_message_at, last_agent_reply_at"
        ),
        "tickets_comment": (
            "id, organization_id, ticket_id, is_public, author_user_id, author_contact_id, "
            "channel, body_text, body_html, full_text, message_id, recipients, held_reason, "
            "created_at"
        ),
        "tickets_attachment": (
            "organization_id, ticket_id, comment_id, file, filename, content_type, size, "
            "sha256, content_id, inline, created_at"
        ),
        "tickets_ticketevent": (
            "organization_id, ticket_id, kind, actor_user_id, actor_contact_id, data, created_at"
        ),
        "sla_ticketsla": (
            "organization_id, ticket_id, policy_id, target, started_at, due_at, warn_at, "
            "paused_seconds, spent_seconds, stopped_at, breached_at, warned_at"
        ),
    }

    def __init__(self, rng, org, ids, contacts, calendar, end):
        self.rng, self.org, self.contacts, self.calendar, self.end = (
            rng,
            org,
            contacts,
            calendar,
            end,
        )
        self.ticket_id = ids["ticket"]
        self.comment_id = ids["comment"]
        self.rows: dict[str, list[str]] = {table: [] for table in self.COLUMNS}
        self.tz_offset = org["tz_offset"]
        self.day0 = end - DAYS * 86400

    def _fill(self, template: str, contact: dict) -> str:
        rng = self.rng
        return template.format(
            product=rng.choice(PRODUCTS),
            invoice=rng.randint(1000, 9999),
            order=rng.randint(100000, 999999),
            errno=rng.randint(100, 999),
            version=f"{rng.randint(2, 9)}.{rng.randint(0, 20)}",
            name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            first=contact["first"],
            date=f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            company=contact["name"],
        )

    def _body(self, pool: list[str], contact: dict, greeting: str, signature: str) -> str:
        rng = self.rng
        sentences = [self._fill(s, contact) for s in rng.sample(pool, rng.randint(2, 4))]
        if rng.random() < 0.02:
            sentences.append(f"Our reference for this is {rare_word(rng.randrange(RARE_WORDS))}.")
        if rng.random() < 0.01:  # mail with markup in its text, which snippets must escape
            sentences.append('The page said <script>alert("x")</script> & <b>nothing</b> else.')
        lines = [greeting] if greeting else []
        lines.append(" ".join(sentences))
        lines.append(signature)
        return "\n\n".join(lines)

    def _created_at(self) -> float:
        rng = self.rng
        while True:
            day = rng.randrange(DAYS)
            start = self.day0 + day * 86400
            weekday = datetime.fromtimestamp(start + self.tz_offset, UTC).weekday()
            if weekday < 5 or rng.random() < 0.3:
                break
        hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
        local_midnight = start - (start + self.tz_offset) % 86400
        return local_midnight + hour * 3600 + rng.random() * 3600  # local hour, in UTC

    def add(self, number: int) -> None:
        rng, org = self.rng, self.org
        tid = self.ticket_id + number - 1
        contact = rng.choice(self.contacts)
        team_index = rng.randrange(len(TEAMS)) if rng.random() < 0.85 else None
        team = org["teams"][team_index] if team_index is not None else None
        members = org["team_agents"][team_index] if team_index is not None else org["agents"]
        agent = rng.choice(members)
        created = min(self._created_at(), self.end - 600)
        age_days = (self.end - created) / 86400
        source = rng.choices(
            ["email", "portal", "agent", "contact_form", "api"], [70, 15, 7, 5, 3]
        )[0]
        channel = {"email": "email", "portal": "portal", "api": "api"}.get(source, "email")
        n_comments = 1 + (number * 7919) % 5
        done = rng.random() < (0.96 if age_days > 10 else 0.6 if age_days > 3 else 0.15)
        # Offsets (seconds after creation) of the comments, then of the closing events.
        gaps = [0.0]
        for _ in range(1, n_comments):
            gaps.append(gaps[-1] + rng.lognormvariate(8.5, 1.2))  # median about 80 minutes
        resolve_at = gaps[-1] + rng.lognormvariate(9, 1.0)
        close_at = resolve_at + 4 * 86400
        span = close_at if done else gaps[-1]
        room = self.end - created - 60
        scale = min(1.0, room / span) if span > 0 else 1.0
        times = [created + g * scale for g in gaps]
        resolve_at, close_at = created + resolve_at * scale, created + close_at * scale
        closed = done and close_at < self.end - 3600 and rng.random() < 0.6
        reopened = done and n_comments >= 3 and rng.random() < 0.07

        subject = self._fill(rng.choice(SUBJECTS), contact)
        events = self.rows["tickets_ticketevent"]
        oid = org["id"]
        events.append(
            f'{oid}\t{tid}\tcreated\t\\N\t{contact["id"]}\t{{"source": "{source}"}}\t'
            f"{ts(created)}\n"
        )
        if team is not None or rng.random() < 0.5:
            events.append(
                f"{oid}\t{tid}\tassignee\t{agent}\t\\N\t"
                f'{{"from": "", "to": "{org["names"][agent]}"}}'
                f"\t{ts(created + 120 * scale)}\n"
            )
        status, category, status_at = "New", "new", created
        first_response = last_agent = last_customer = None
        preview = ""
        comments = self.rows["tickets_comment"]
        for k in range(n_comments):
            cid = self.comment_id
            self.comment_id += 1
            when = times[k]
            by_agent = k % 2 == 1 or k == 4
            if k == 2 and reopened:  # resolved after the reply; the customer's answer reopens
                status, category, status_at = self._status(
                    tid,
                    status,
                    category,
                    status_at,
                    "Resolved",
                    "resolved",
                    (times[1] + times[2]) / 2,
                    agent,
                )
            internal = by_agent and k == 3 and rng.random() < 0.5
            if by_agent:
                pool = NOTE_SENTENCES if internal else AGENT_SENTENCES
                greeting = "" if internal else rng.choice(AGENT_GREETINGS).format(**contact)
                body = self._body(pool, contact, greeting, org["names"][agent])
                author_user, author_contact, ch = str(agent), "\\N", "agent"
            else:
                body = self._body(
                    CUSTOMER_SENTENCES, contact, rng.choice(GREETINGS), contact["name"]
                )
                author_user, author_contact, ch = "\\N", str(contact["id"]), channel
            text = esc(body)
            html = esc(
                "<p>"
                + body.replace("&", "&amp;")
                .replace("<", "&lt;")
                .replace(">", "&gt;")
                .replace("\n\n", "</p><p>")
                + "</p>"
            )
            message_id = f"<bench-{cid}@mail.test>" if ch == "email" else ""
            comments.append(
                f"{cid}\t{oid}\t{tid}\t{'f' if internal else 't'}\t{author_user}\t"
                f"{author_contact}\t{ch}\t{text}\t{html}\t\t{message_id}\t{{}}\t\t{ts(when)}\n"
            )
            events.append(
                f"{oid}\t{tid}\tcomment\t{author_user}\t{author_contact}\t"
                f'{{"comment_id": {cid}, "public": {"false" if internal else "true"}}}'
                f"\t{ts(when)}\n"
            )
            if not internal:
                preview = next((ln for ln in body.split("\n") if ln.strip()), "")[:200]
                if by_agent:
                    last_agent = when
                    first_response = first_response or when
                    status, category, status_at = self._status(
                        tid, status, category, status_at, "Pending", "pending", when, agent
                    )
                else:
                    last_customer = when
                    if status != "New":
                        status, category, status_at = self._status(
                            tid, status, category, status_at, "Open", "open", when, None, contact
                        )
            if rng.random() < (0.35 if k == 0 else 0.04):
                self._attachment(tid, cid, contact, when)
        resolved_at = closed_at = None
        if done:
            status, category, status_at = self._status(
                tid, status, category, status_at, "Resolved", "resolved", resolve_at, agent
            )
            resolved_at = resolve_at
            if closed:
                status, category, status_at = self._status(
                    tid, status, category, status_at, "Closed", "closed", close_at, None
                )
                closed_at = close_at
        elif status == "New" and rng.random() < 0.5:
            status, category, status_at = self._status(
                tid, status, category, status_at, "Open", "open", times[0] + 300 * scale, agent
            )
        last = max(times[-1], status_at)
        priority = org["priorities"][rng.choices(range(4), [20, 60, 15, 5])[0]]
        assignee = agent if (done or first_response or rng.random() < 0.6) else None
        self.rows["tickets_ticket"].append(
            f"{tid}\t{oid}\t{number}\t{esc(subject)}\t{org['statuses'][status]}\t{category}\t"
            f"{priority}\t{assignee or NULL}\t{team or NULL}\t{contact['id']}\t"
            f"{contact['customer'] or NULL}\t{source}\t{esc(preview)}\t{ts(created)}\t{ts(last)}\t"
            f"{ts(last)}\t{_t(first_response)}\t{_t(resolved_at)}\t{_t(closed_at)}\t"
            f"{ts(status_at)}\t{_t(last_customer)}\t{_t(last_agent)}\n"
        )
        self._timers(tid, created, first_response, resolved_at, done)

    def _status(self, tid, old, old_category, old_at, new, category, when, agent, contact=None):
        if old == new:
            return old, old_category, old_at
        actor_user = str(agent) if agent else "\\N"
        actor_contact = str(contact["id"]) if contact else "\\N"
        self.rows["tickets_ticketevent"].append(
            f"{self.org['id']}\t{tid}\tstatus\t{actor_user}\t{actor_contact}\t"
            f'{{"from": "{old}", "to": "{new}", "to_category": "{category}"}}\t{ts(when)}\n'
        )
        return new, category, when

    def _attachment(self, tid, cid, contact, when) -> None:
        rng = self.rng
        name = self._fill(rng.choice(ATTACHMENTS), contact)
        kind = name.rsplit(".", 1)[1]
        self.rows["tickets_attachment"].append(
            f"{self.org['id']}\t{tid}\t{cid}\tbench/{self.org['id']}/{cid}-{rng.randrange(10**9)}"
            f"\t{esc(name)}\t{CONTENT_TYPES[kind]}\t{rng.randint(2_000, 4_000_000)}\t"
            f"{rng.getrandbits(256):064x}\t\tf\t{ts(when)}\n"
        )

    def _timers(self, tid, created, first_response, resolved_at, done) -> None:
        start = datetime.fromtimestamp(created, UTC)
        policy, oid = self.org["policy"], self.org["id"]
        for target, minutes, stopped in [
            ("first_response", FIRST_RESPONSE_MINUTES, first_response or resolved_at),
            ("resolution", RESOLUTION_MINUTES, resolved_at),
        ]:
            due = self.calendar.add(start, minutes).timestamp()
            warn = due - 3600
            breached = None
            if (stopped or self.end) > due:
                breached = due + 60 if (due + 60) < self.end else None
            if stopped is not None and stopped <= due:
                breached = None
            warned = warn + 60 if (stopped or self.end) > warn + 60 else None
            self.rows["sla_ticketsla"].append(
                f"{oid}\t{tid}\t{policy}\t{target}\t{ts(created)}\t{ts(due)}\t{ts(warn)}\t0\t0\t"
                f"{_t(stopped)}\t{_t(breached)}\t{_t(warned)}\n"
            )


def _t(epoch: float | None) -> str:
    return "\\N" if epoch is None else ts(epoch)


def timestamp_now() -> float:
    """The build's "now", to the hour (the reports' year ends at it)."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now.timestamp()


def tz_offset(name: str, at: float) -> float:
    from zoneinfo import ZoneInfo

    moment = datetime.fromtimestamp(at, UTC).astimezone(ZoneInfo(name))
    offset = moment.utcoffset() or timedelta(0)
    return offset.total_seconds()


def run_worker(args: tuple) -> tuple[int, dict, float]:
    """One tenant in a worker process: its own connection, one transaction."""
    import psycopg

    url, org, index, bases, end, seed, triggers = args
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
            if not triggers:  # no triggers, no FK checks: the documents are rebuilt after
                cur.execute("SET session_replication_role = replica")
            counts = generate(cur, org=org, index=index, bases=bases, end=end, seed=seed)
        conn.commit()
    return index, counts, time.perf_counter() - started
