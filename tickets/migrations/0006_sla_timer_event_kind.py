# The "sla" kind of TicketEvent: timer changes on the timeline (sla app). Written by hand so
# that it holds only this change; its choices are the model's at the time.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0005_contacts_merge_emails_notes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="ticketevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("created", "Created"),
                    ("comment", "Comment"),
                    ("status", "Status"),
                    ("priority", "Priority"),
                    ("assignee", "Assignee"),
                    ("team", "Team"),
                    ("collaborator", "Collaborator"),
                    ("requester", "Requester"),
                    ("spam", "Spam"),
                    ("mail", "Mail"),
                    ("sla", "SLA"),
                    ("tags", "Tags"),
                    ("follower", "Follower"),
                    ("merged", "Merged"),
                    ("split", "Split"),
                    ("contact_merged", "Contact merged"),
                ],
                max_length=16,
            ),
        ),
    ]
