"""Intake forms: a ticket opened through one (from the portal or the public contact form), and
the admin's changes to the forms and their fields (Settings -> Portal forms).

`portal_ticket_create` opens the ticket through tickets.services.tickets.ticket_create as the
contact (actor_user None: the acknowledgement mail goes out and automations hear a customer's
ticket) and stores, in the same transaction, what the form's fields held (Submission) and each
chosen option of its choice fields (SubmittedChoice: what the agents' list filters on)."""

from collections.abc import Sequence

from django.db import transaction
from django.db.models import Max
from django.utils.text import slugify

from portal.intake import IntakeAnswer
from portal.models import IntakeField, IntakeForm, Submission, SubmittedChoice
from tenants.models import Organization, Team
from tickets.models import Contact, Priority, Ticket
from tickets.services.attachments import Upload
from tickets.services.tickets import ticket_create
from tickets.settings_services import position_move


def portal_ticket_create(
    *,
    organization: Organization,
    requester: Contact,
    subject: str,
    body_text: str,
    source: str,
    intake_form: IntakeForm | None = None,
    answer: IntakeAnswer | None = None,
    uploads: Sequence[Upload] = (),
) -> Ticket:
    """Open the contact's ticket: priority and team from a mapped field, else the form's
    defaults, else the tenant's; the message's files and the form's file fields become the
    first comment's attachments."""
    answer = answer or IntakeAnswer()
    priority = answer.priority or (intake_form.default_priority if intake_form else None)
    team = answer.team or (intake_form.default_team if intake_form else None)
    with transaction.atomic():
        ticket = ticket_create(
            organization=organization,
            subject=subject,
            requester=requester,
            body_text=body_text,
            source=source,
            actor_user=None,
            priority=priority,
            team=team,
            uploads=[*uploads, *answer.uploads],
        )
        if intake_form is not None:
            _submission_store(ticket, intake_form, answer)
    return ticket


def _submission_store(ticket: Ticket, intake_form: IntakeForm, answer: IntakeAnswer) -> None:
    Submission.objects.create(
        organization_id=ticket.organization_id,
        ticket=ticket,
        form=intake_form,
        form_name=intake_form.name,
        values=answer.values,
    )
    SubmittedChoice.objects.bulk_create(
        SubmittedChoice(
            organization_id=ticket.organization_id, ticket=ticket, field=row, value=value[:200]
        )
        for row, value in answer.choices
    )


# -- Settings -> Portal forms --------------------------------------------------------------------


def intake_form_save(
    *,
    organization: Organization,
    intake_form: IntakeForm | None,
    name: str,
    description: str,
    enabled: bool,
    default_team: Team | None,
    default_priority: Priority | None,
) -> IntakeForm:
    """Create a form (last in the list) or change one."""
    with transaction.atomic():
        if intake_form is None:
            top = IntakeForm.objects.aggregate(m=Max("position"))["m"]
            intake_form = IntakeForm(
                organization=organization, position=0 if top is None else top + 1
            )
        intake_form.name, intake_form.description = name.strip(), description.strip()
        intake_form.enabled = enabled
        intake_form.default_team, intake_form.default_priority = default_team, default_priority
        intake_form.save()
    return intake_form


def intake_form_delete(*, intake_form: IntakeForm) -> None:
    """Delete a form and its fields; its tickets keep what was submitted (and the form's name),
    and the contact form that used it goes back to the plain form."""
    intake_form.delete()


def intake_form_move(*, intake_form: IntakeForm, direction: int) -> None:
    with transaction.atomic():
        rows = IntakeForm.objects.select_for_update().order_by("position", "id")
        position_move(rows=rows, row=intake_form, direction=direction)


def intake_field_move(*, intake_field: IntakeField, direction: int) -> None:
    with transaction.atomic():
        rows = IntakeField.objects.select_for_update().filter(form_id=intake_field.form_id)
        position_move(rows=rows.order_by("position", "id"), row=intake_field, direction=direction)


def intake_field_save(
    *,
    intake_form: IntakeForm,
    intake_field: IntakeField | None,
    label: str,
    help_text: str,
    kind: str,
    required: bool,
    choices: list[str],
    maps_to: str,
) -> IntakeField:
    """Add a field (last, its key made from its label and unique within the form) or change
    one; a field's key never changes, so earlier submissions keep their meaning."""
    with transaction.atomic():
        # The form's row lock serialises key choices and positions of concurrent additions.
        IntakeForm.objects.select_for_update().filter(pk=intake_form.pk).first()
        if intake_field is None:
            siblings = IntakeField.objects.filter(form=intake_form)
            top = siblings.aggregate(m=Max("position"))["m"]
            intake_field = IntakeField(
                organization_id=intake_form.organization_id,
                form=intake_form,
                key=_unique_key(label, set(siblings.values_list("key", flat=True))),
                position=0 if top is None else top + 1,
            )
        intake_field.label, intake_field.help_text = label.strip(), help_text.strip()
        intake_field.kind, intake_field.required, intake_field.maps_to = kind, required, maps_to
        intake_field.choices = choices
        intake_field.save()
    return intake_field


def _unique_key(label: str, taken: set[str]) -> str:
    base = slugify(label).replace("-", "_")[:40].strip("_") or "field"
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}_{n}"
    return key


def intake_field_delete(*, intake_field: IntakeField) -> None:
    """Delete a field: its tickets keep the submitted values; the list no longer filters on it."""
    intake_field.delete()
