"""Demo data for the embedded default: two tenants, their people, and tickets to work.

Idempotent: running it again adds nothing that is already there.
"""

import random
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django_scopes import scopes_disabled

from demo import automations_seed, portal_seed, reports_seed, sla_seed
from inbound_mail.models import InboundAddress
from inbound_mail.services import addresses as inbound_addresses
from tenants import services as tenant_services
from tenants.models import Membership, Organization
from tenants.scoping import tenant_scope
from tickets import events
from tickets.models import CannedResponse, Comment, Customer, CustomerDomain, Status, Ticket
from tickets.services.comments import comment_create
from tickets.services.contacts import contact_get_or_create
from tickets.services.tickets import ticket_assign, ticket_change_status, ticket_create

PASSWORD = "demo"  # noqa: S105 - the documented demo login, printed by `make run`

SUBJECTS = [
    "Cannot log in after password change",
    "Invoice {n} shows the wrong VAT rate",
    "Export to CSV times out",
    "Printer setup for the new office",
    "Refund for order {n}",
    "How do I add a second admin?",
    "Mobile app crashes on start",
    "Feature request: dark mode",
    "Emails from you land in spam",
    "Upgrade to the annual plan",
    "Data import failed at row {n}",
    "SSO with Azure AD",
    "Delivery {n} arrived damaged",
    "API rate limit too low",
    "Change the billing address",
    "Two-factor codes not arriving",
    "Slow dashboard since Monday",
    "Cancel my subscription",
    "Webhook retries flood our server",
    "Wrong language in reports",
]
OPENERS = [
    "Hi team,\n\n{issue}. We tried again this morning with the same result.\n\nThanks,\n{name}",
    "Hello,\n\n{issue}. Could you have a look? It is blocking two of our people.\n\n{name}",
    "Good morning,\n\nSince yesterday: {issue}. Screenshots on request.\n\nBest regards,\n{name}",
]
AGENT_REPLIES = [
    "Thanks for reporting this, {name}. I can reproduce it and have passed it to our engineers.",
    "Hi {name}, could you tell us which browser and version you use?",
    "Hi {name}, this is fixed now. Could you try again and let us know?",
]
CUSTOMER_REPLIES = [
    "Thanks, that works now!",
    "Still the same here, sorry.",
    "Chrome 131 on Windows 11.",
]
NOTES = [
    "Known issue, see the engineering board.",
    "Customer is on the enterprise plan: prioritise.",
]
PEOPLE = [
    ("Alice Martin", "northwind.example"),
    ("Bob Chen", "contoso.example"),
    ("Carla Diaz", "fabrikam.example"),
    ("Dev Patel", "northwind.example"),
    ("Eva Novak", "initech.example"),
    ("Farah Aziz", "gmail.example"),
    ("Gus Moreau", "contoso.example"),
    ("Hana Sato", "fabrikam.example"),
]


class Command(BaseCommand):
    help = "Create the demo tenants acme and globex with users, teams and tickets."

    def add_arguments(self, parser):
        parser.add_argument("--tickets", type=int, default=200, help="tickets for acme")

    def handle(self, *args, tickets, **options):
        rng = random.Random(42)
        # Seeding spans tenants and creates them, so no single tenant can be active here.
        with scopes_disabled():  # seeding creates the tenants
            acme = self._org("acme", "Acme Support", "Europe/Berlin")
            globex = self._org("globex", "Globex Help", "America/New_York")
        self._people(
            acme,
            [
                ("admin@acme.test", "Ada Admin", Membership.ADMIN),
                ("agent@acme.test", "Andy Agent", Membership.AGENT),
                ("sam@acme.test", "Sam Support", Membership.AGENT),
            ],
            teams=["Support", "Billing"],
        )
        self._support_address(acme, "support@acme.localhost")
        self._support_address(globex, "help@globex.localhost")
        self._people(
            globex, [("agent@globex.test", "Gina Globex", Membership.AGENT)], teams=["Support"]
        )
        with tenant_scope(acme), events.muted():
            sla_seed.seed_sla(acme)  # before the tickets, so that they start SLA timers
        self._tickets(acme, tickets, rng)
        with tenant_scope(acme), events.muted():
            sla_seed.seed_sla_tickets(acme)
            # After the tickets: the seeded history is not run through the rules (muted anyway);
            # mail and tickets from now on are.
            automations_seed.seed_automations(acme)
            automations_seed.seed_pending_ticket(acme)
            portal_seed.seed_portal(acme)
            reports_seed.seed_views(acme)
            reports_seed.seed_rollups(acme)  # after every seeded change: Reports shows them
        self._tickets(globex, max(10, tickets // 10), rng)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _org(self, slug, name, tz):
        org = Organization.objects.filter(slug=slug).first()
        return org or tenant_services.organization_create(slug=slug, name=name, timezone=tz)

    def _support_address(self, org, address):
        """Mail to this address (`manage.py ingest_email`) opens tickets in the demo tenant."""
        with tenant_scope(org):
            if not InboundAddress.objects.filter(address=address).exists():
                inbound_addresses.inbound_address_add(organization=org, address=address)

    def _people(self, org, people, teams):
        with tenant_scope(org), transaction.atomic():
            users = []
            for email, name, role in people:
                user = tenant_services.user_get_or_create(email=email, name=name, password=PASSWORD)
                tenant_services.membership_add(organization=org, user=user, role=role)
                users.append(user)
            for name in teams:
                tenant_services.team_create(
                    organization=org, name=name, members=users, managers=users[:1]
                )
            for name, body in [
                (
                    "Thanks, closing",
                    "Hi {{ requester_name }},\n\nGlad it works now. I am closing "
                    "ticket #{{ ticket_number }}; just reply if anything comes up."
                    "\n\n{{ agent_name }}",
                ),
                (
                    "Need more details",
                    "Hi {{ requester_name }},\n\nCould you send a screenshot and "
                    "the time it happened?\n\nThanks,\n{{ agent_name }}",
                ),
            ]:
                CannedResponse.objects.get_or_create(
                    organization=org, name=name, defaults={"body": body}
                )
            for company, domain in [
                ("Northwind", "northwind.example"),
                ("Contoso", "contoso.example"),
            ]:
                customer, _ = Customer.objects.get_or_create(organization=org, name=company)
                CustomerDomain.objects.get_or_create(
                    organization=org, domain=domain, defaults={"customer": customer}
                )

    def _tickets(self, org, count, rng):
        with tenant_scope(org), events.muted():
            existing = Ticket.objects.count()
            if existing >= count:
                return
            agents = [m.user for m in Membership.objects.select_related("user")]
            from tenants.models import Team

            teams = list(Team.objects.all())
            statuses = list(Status.objects.all())
            now = timezone.now()
            for i in range(existing, count):
                self._ticket(org, i, rng, agents, teams, statuses, now)

    @transaction.atomic
    def _ticket(self, org, i, rng, agents, teams, statuses, now):
        name, domain = rng.choice(PEOPLE)
        email = f"{name.split()[0].lower()}@{domain}"
        requester = contact_get_or_create(organization=org, email=email, name=name)
        subject = rng.choice(SUBJECTS).format(n=rng.randint(1000, 9999))
        created = now - timedelta(minutes=rng.randint(10, 60 * 24 * 60))
        ticket = ticket_create(
            organization=org,
            subject=subject,
            requester=requester,
            body_text=rng.choice(OPENERS).format(issue=subject.lower(), name=name.split()[0]),
            source=rng.choice(["email", "email", "portal", "agent"]),
            created_at=created,
            team=rng.choice([*teams, None]),
        )
        moment = created
        for step in range(rng.randint(0, 4)):
            moment += timedelta(minutes=rng.randint(5, 600))
            if moment >= now:
                break
            agent = rng.choice(agents)
            if step % 2 == 0:
                comment = comment_create(
                    ticket=ticket,
                    author_user=agent,
                    body_text=rng.choice(AGENT_REPLIES).format(name=name.split()[0]),
                    is_public=rng.random() > 0.2,
                )
                if not comment.is_public:
                    Comment.objects.filter(pk=comment.pk).update(body_text=rng.choice(NOTES))
            else:
                comment = comment_create(
                    ticket=ticket,
                    author_contact=requester,
                    body_text=rng.choice(CUSTOMER_REPLIES),
                    channel=Comment.Channel.EMAIL,
                )
            Comment.objects.filter(pk=comment.pk).update(created_at=moment)
        if rng.random() < 0.7:
            ticket_assign(ticket=ticket, assignee=rng.choice(agents))
        ticket_change_status(ticket=ticket, status=rng.choice(statuses))
        Ticket.objects.filter(pk=ticket.pk).update(
            last_activity_at=moment,
            updated_at=moment,
            first_response_at=moment if moment > created else None,
        )
