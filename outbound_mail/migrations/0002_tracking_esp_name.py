"""OutgoingMessage.esp_name: which ESP accepted a message, so only that ESP's events touch it.

Rows sent before this carry an ESP message id but no name; they went through the EMAIL_BACKEND
configured now (if that is an anymail backend), so they are given its name.
"""

from django.conf import settings
from django.db import migrations, models
from django.utils.module_loading import import_string


def name_the_configured_esp(apps, schema_editor):
    try:
        esp_name = getattr(import_string(settings.EMAIL_BACKEND), "esp_name", "")
    except ImportError:
        esp_name = ""
    if not isinstance(esp_name, str) or not esp_name:
        return
    OutgoingMessage = apps.get_model("outbound_mail", "OutgoingMessage")
    # Historical models have plain managers: this one statement spans every tenant on purpose.
    OutgoingMessage.objects.exclude(provider_message_id="").update(esp_name=esp_name[:32])


class Migration(migrations.Migration):
    dependencies = [
        ("outbound_mail", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="outgoingmessage",
            name="esp_name",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.RunPython(name_the_configured_esp, migrations.RunPython.noop),
    ]
