"""The tenant's inbound settings row: the receiving hosts whose Authentication-Results it trusts
(issue 9: staff mail needs proof)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inbound_mail", "0002_thread_locks_advisory"),
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="InboundSettings",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("trusted_authserv_ids", models.JSONField(blank=True, default=list)),
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
                "constraints": [
                    models.UniqueConstraint(
                        fields=("organization",), name="inboundsettings_one_per_org"
                    )
                ],
            },
        ),
    ]
