"""The portal part of seed_demo: acme's portal (on, with its welcome text), two intake forms
("Billing question" for the Billing team and "Bug report" whose severity sets the priority),
the contact form using the bug report's fields, and the demo contact customer@acme.test
(password "demo") with three tickets: one opened through the bug report form, one being worked
(an agent's public reply and an internal note the portal never shows), one solved.

Idempotent: what exists by name is left as it is (an admin may have edited it)."""

from django import forms as django_forms
from django.contrib.auth.hashers import make_password
from django.db import transaction

from portal.intake import add_intake_fields, field_name, intake_answer
from portal.models import IntakeField, IntakeForm, PortalAccount, PortalSettings
from portal.services.intake import portal_ticket_create
from tenants.models import Membership, Organization, Team
from tickets.models import Comment, Priority, Status, StatusCategory, Ticket
from tickets.services.comments import comment_create
from tickets.services.contacts import contact_get_or_create
from tickets.services.tickets import ticket_change_status, ticket_create

CONTACT_EMAIL = "customer@acme.test"
CONTACT_NAME = "Casey Customer"
K = IntakeField.Kind

FORMS = [
    {
        "name": "Billing question",
        "description": "Invoices, refunds, payment methods and your subscription.",
        "team": "Billing",
        "priority": None,
        "fields": [
            ("topic", "What is it about?", K.SINGLE_CHOICE, True,
             ["An invoice", "A refund", "A failed payment", "My subscription"], "", ""),
            ("invoice_number", "Invoice number", K.SHORT_TEXT, False, [], "",
             "On the top right of the invoice, e.g. INV-2026-0042."),
            ("amount", "Amount concerned", K.NUMBER, False, [], "", "In your billing currency."),
        ],
    },
    {
        "name": "Bug report",
        "description": "Something in the product does not work as it should.",
        "team": "Support",
        "priority": None,
        "fields": [
            ("area", "Where does it happen?", K.SINGLE_CHOICE, True,
             ["Web app", "Mobile app", "API", "Email notifications"], "", ""),
            ("severity", "How bad is it?", K.SINGLE_CHOICE, True, [], "priority",
             "Urgent means your team cannot work."),
            ("steps", "Steps to reproduce", K.LONG_TEXT, True, [], "",
             "What you did, what you expected, what happened instead."),
            ("seen_on", "When did it start?", K.DATE, False, [], "", ""),
            ("workaround", "We have a workaround", K.CHECKBOX, False, [], "", ""),
            ("screenshot", "Screenshot", K.FILE, False, [], "", "A picture of what you see."),
        ],
    },
]  # fmt: skip


def seed_portal(org: Organization) -> None:
    with transaction.atomic():
        settings, _ = PortalSettings.objects.get_or_create(organization=org)
        forms = [_form(org, spec, position) for position, spec in enumerate(FORMS)]
        if settings.contact_form_intake_id is None:
            settings.contact_form_intake = forms[1]
            settings.welcome_text = (
                "Welcome to Acme Support. Sign in to follow your requests, or tell us what "
                "you need and we will get back to you within one business day."
            )
            settings.save()
        _contact_and_tickets(org, forms[1])


def _form(org: Organization, spec: dict, position: int) -> IntakeForm:
    form = IntakeForm.objects.filter(name=spec["name"]).first()
    if form is not None:
        return form
    form = IntakeForm.objects.create(
        organization=org,
        name=spec["name"],
        description=spec["description"],
        position=position,
        default_team=Team.objects.filter(name=spec["team"]).first(),
        default_priority=None,
    )
    for n, (key, label, kind, required, choices, maps_to, help_text) in enumerate(spec["fields"]):
        IntakeField.objects.create(
            organization=org,
            form=form,
            key=key,
            label=label,
            kind=kind,
            required=required,
            choices=choices,
            maps_to=maps_to,
            help_text=help_text,
            position=n,
        )
    return form


def _contact_and_tickets(org: Organization, bug_report: IntakeForm) -> None:
    contact = contact_get_or_create(organization=org, email=CONTACT_EMAIL, name=CONTACT_NAME)
    account, _ = PortalAccount.objects.get_or_create(organization=org, contact=contact)
    if not account.password:
        account.password = make_password("demo")
        account.save(update_fields=["password"])
    if Ticket.objects.filter(requester=contact).exists():
        return
    agent = Membership.objects.select_related("user").filter(role=Membership.AGENT).first()
    user = agent.user if agent else None
    high = Priority.objects.order_by("-rank").first()
    # The bug report filled in as the portal's form would be, through the same fields.
    filled = django_forms.Form(
        data={
            field_name(f): value
            for f in bug_report.fields.all()
            for key, value in {
                "area": "Mobile app",
                "severity": str(high.pk) if high else "",
                "steps": "Open the app, tap Reports, choose last month: the app closes.",
            }.items()
            if f.key == key
        }
    )
    add_intake_fields(filled, bug_report)
    if not filled.is_valid():
        raise ValueError(f"the demo's bug report does not validate: {filled.errors.as_text()}")
    answer = intake_answer(filled)
    portal_ticket_create(
        organization=org,
        requester=contact,
        subject="The mobile app closes when I open Reports",
        body_text="Since the last update the app closes as soon as I open the Reports tab.",
        source=Ticket.Source.PORTAL,
        intake_form=bug_report,
        answer=answer,
    )
    working = ticket_create(
        organization=org,
        subject="Can we get a second admin seat?",
        requester=contact,
        body_text="Hello, our team lead needs admin rights too. Is that part of our plan?",
        source=Ticket.Source.PORTAL,
    )
    if user is not None:
        comment_create(
            ticket=working,
            author_user=user,
            body_text="Hi Casey, yes: your plan includes three admins. I have sent you the steps.",
        )
        comment_create(
            ticket=working,
            author_user=user,
            body_text="Internal: check their plan's seat count before the renewal.",
            is_public=False,
        )
    solved = ticket_create(
        organization=org,
        subject="Where do I download last year's invoices?",
        requester=contact,
        body_text="I need all invoices of 2025 for our accountant.",
        source=Ticket.Source.PORTAL,
    )
    if user is not None:
        comment_create(
            ticket=solved,
            author_user=user,
            body_text="Under Billing -> Invoices you can pick the year and download them all.",
            channel=Comment.Channel.AGENT,
        )
    done = Status.objects.filter(category=StatusCategory.RESOLVED).order_by("position").first()
    if done is not None:
        ticket_change_status(ticket=solved, status=done, actor_user=user)
