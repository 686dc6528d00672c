"""Issue 16: the MTA doors' sources, LMTP (`manage.py lmtp_server`) and the mailgate
(bin/helpdesk-mailgate posting to /inbound/mailgate/)."""

from django.db import migrations, models

SOURCES = [
    ("imap", "IMAP"),
    ("webhook", "Webhook"),
    ("command", "Command line"),
    ("lmtp", "LMTP"),
    ("mailgate", "Mailgate (MTA pipe)"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("inbound_mail", "0004_inbound_addresses_owned_domains"),
    ]

    operations = [
        migrations.AlterField(
            model_name="inboundmessage",
            name="source",
            field=models.CharField(choices=SOURCES, max_length=8),
        ),
        migrations.AlterField(
            model_name="unclaimedmessage",
            name="source",
            field=models.CharField(choices=SOURCES, max_length=8),
        ),
    ]
