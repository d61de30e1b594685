"""A sweep's alert is an outbox message now (portal.OutboxMessage, key dnsbl.alert:<sweep>), stored with the
sweep's result: the sweep no longer tracks its own sending. An alert still unsent at the upgrade (SMTP was
down) is not carried over; the sweep's changes stay on the dashboard and in its alert text.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("dnsbl", "0001_initial"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="dnsblsweep",
            name="alert_sent_at",
        ),
    ]
