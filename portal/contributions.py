"""What the portal adds to the agents' pages through tickets.contributions, registered from
PortalConfig.ready(): the ticket page's "Submitted with <form>" card (one prefetch of the
ticket's Submission, so the page's query count stays fixed) and the list's filter on an
intake form's choice field (`?choice=<field id>:<option>`, over SubmittedChoice's index)."""

from django.db.models import Prefetch, QuerySet

from portal.models import IntakeField, Submission, SubmittedChoice
from tickets import contributions

CHOICE_PARAM = "choice"
Kind = IntakeField.Kind


def _ticket_submission() -> list[Prefetch]:
    # A reverse one-to-one: `ticket.portal_submission` is the Submission or None.
    return [
        Prefetch(
            "intake_submission", queryset=Submission.objects.all(), to_attr="portal_submission"
        )
    ]


def choice_fields() -> QuerySet[IntakeField]:
    """The tenant's choice fields that store their answer on the ticket, in the forms' order."""
    return (
        IntakeField.objects.filter(kind__in=(Kind.SINGLE_CHOICE, Kind.MULTIPLE_CHOICE), maps_to="")
        .select_related("form")
        .order_by("form__position", "form_id", "position", "id")
    )


def _choice_options() -> list[tuple[str, list[tuple[str, str]]]]:
    """One group per choice field ("Bug report: Area"), each option as `<field id>:<option>`."""
    groups = []
    for row in choice_fields():
        options = [(f"{row.pk}:{option}", str(option)) for option in row.choices or []]
        if options:
            groups.append((f"{row.form.name}: {row.label}", options))
    return groups


def filter_by_choice(qs: QuerySet, value: str) -> QuerySet:
    """Tickets whose submission chose `<option>` in field `<field id>`; anything else (another
    tenant's field, a malformed value) finds nothing."""
    field_id, _, option = value.partition(":")
    if not field_id.isdigit() or not option:
        return qs.none()
    chosen = SubmittedChoice.objects.filter(field_id=int(field_id), value=option)
    return qs.filter(pk__in=chosen.values("ticket_id"))


def register() -> None:
    contributions.register(
        contributions.Contribution(
            name="portal.intake",
            ticket_prefetches=_ticket_submission,
            sidebar_templates=("portal/_ticket_submission.html",),
            list_params=(
                contributions.ListParam(
                    CHOICE_PARAM, "Form answer", filter_by_choice, _choice_options, pure=True
                ),
            ),
        )
    )
