"""Senders whose remote images show (RemoteImageSender), and canned responses rewritten to the
one placeholder syntax, `{{ requester_name }}`, that mail templates use too.

The old names are frozen here, not imported: a migration must rewrite what the rows held then,
whatever tickets.placeholders says later. Text that is not an old placeholder stays as it is.
"""

import re

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

OLD_TO_NEW = {
    "ticket.number": "ticket_number",
    "ticket.subject": "ticket_subject",
    "ticket.status": "ticket_status",
    "ticket.priority": "ticket_priority",
    "requester.name": "requester_name",
    "requester.email": "requester_email",
    "agent.name": "agent_name",
    "agent.email": "agent_email",
    "organization.name": "organization_name",
}
OLD_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")


def rewrite(text: str) -> str:
    """`{{ requester.name }}` -> `{{ requester_name }}` for every old name; others unchanged."""

    def replace(match: re.Match) -> str:
        new = OLD_TO_NEW.get(match.group(1))
        return "{{ " + new + " }}" if new else match.group(0)

    return OLD_PLACEHOLDER.sub(replace, text)


def rewrite_canned_responses(apps, schema_editor):
    CannedResponse = apps.get_model("tickets", "CannedResponse")
    # The historical model's manager is Django's plain one (no tenant scope): every tenant's
    # rows are rewritten, each in place.
    for row in CannedResponse.objects.all().only("pk", "body").iterator():
        body = rewrite(row.body)
        if body != row.body:
            CannedResponse.objects.filter(pk=row.pk).update(body=body)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_sessions_audit_log"),
        ("tickets", "0006_sla_timer_event_kind"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="RemoteImageSender",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("pattern", models.CharField(max_length=254)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenants.organization",
                    ),
                ),
            ],
            options={
                "ordering": ["pattern"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("organization", "pattern"), name="remoteimagesender_unique"
                    )
                ],
            },
        ),
        migrations.AlterField(
            model_name="cannedresponse",
            name="body",
            field=models.TextField(
                help_text="Placeholders: {{ ticket_number }}, {{ requester_name }} …"
            ),
        ),
        migrations.RunPython(rewrite_canned_responses, migrations.RunPython.noop),
    ]
