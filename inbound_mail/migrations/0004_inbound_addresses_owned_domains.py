"""Issue 9, hole 2: custom mail domains and address confirmations; one address, one tenant,
whatever its case (existing addresses are lower-cased first)."""

import django.db.models.deletion
import django.db.models.functions.text
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models
from django.db.models.functions import Lower


def lower_case_addresses(apps, schema_editor):
    """Store every address lower case, as the services always did. Routing only ever matched
    the lower-case form, so a mixed-case row that clashes with one was never reached: it goes
    (its tenant's default passing to its oldest other address)."""
    address_model = apps.get_model("inbound_mail", "InboundAddress")
    seen = set(
        address_model._base_manager.filter(address=Lower("address")).values_list(
            "address", flat=True
        )
    )
    for row in address_model._base_manager.exclude(address=Lower("address")).order_by(
        "created_at", "id"
    ):
        lower = row.address.lower()
        if lower in seen:
            row.delete()
            _keep_a_default(address_model, row)
            continue
        seen.add(lower)
        address_model._base_manager.filter(pk=row.pk).update(address=lower)


def _keep_a_default(address_model, removed):
    rows = address_model._base_manager.filter(organization_id=removed.organization_id)
    if removed.is_default and not rows.filter(is_default=True).exists():
        successor = rows.order_by("created_at", "id").first()
        if successor is not None:
            rows.filter(pk=successor.pk).update(is_default=True)


class Migration(migrations.Migration):
    dependencies = [
        ("inbound_mail", "0003_staffproof_inbound_settings"),
        ("tenants", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AddressConfirmation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("address", models.EmailField(max_length=254)),
                ("plus_addressing", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "ordering": ["address"],
            },
        ),
        migrations.CreateModel(
            name="MailDomain",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("domain", models.CharField(max_length=253)),
                ("token", models.CharField(max_length=64)),
                ("verified", models.BooleanField(default=False)),
                ("verified_at", models.DateTimeField(blank=True, null=True)),
                ("last_checked_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "ordering": ["domain"],
            },
        ),
        migrations.RunPython(lower_case_addresses, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="inboundaddress",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("address"), name="inboundaddress_unique_lower"
            ),
        ),
        migrations.AddField(
            model_name="addressconfirmation",
            name="organization",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tenants.organization",
            ),
        ),
        migrations.AddField(
            model_name="addressconfirmation",
            name="requested_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="maildomain",
            name="organization",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tenants.organization",
            ),
        ),
        migrations.AddConstraint(
            model_name="addressconfirmation",
            constraint=models.UniqueConstraint(
                fields=("organization", "address"), name="addressconfirmation_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="maildomain",
            constraint=models.UniqueConstraint(
                fields=("organization", "domain"), name="maildomain_unique_per_tenant"
            ),
        ),
        migrations.AddConstraint(
            model_name="maildomain",
            constraint=models.UniqueConstraint(
                condition=models.Q(("verified", True)),
                fields=("domain",),
                name="maildomain_verified_once",
            ),
        ),
    ]
