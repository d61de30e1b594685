"""Deliveries use the outbox's engine (portal.models.OutgoingMessage): the hand-over time gets its own field
beside the server's acceptance, and a retry window start; the weekly review digest is an outbox message now.

Digests still pending at the upgrade are not carried over (they hold no rendered text to copy): the next
weekly run lists everything due again.
"""

import django.utils.timezone
from django.db import migrations, models
from django.db.models import F


def fill(apps, schema_editor):
    Delivery = apps.get_model("policies", "Delivery")
    Delivery.objects.update(retry_from=F("created_at"))
    Delivery.objects.filter(status="sent").update(sent_at=F("handed_over_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0001_initial"),
        ("portal", "0002_outbox"),
    ]

    operations = [
        migrations.RenameField(model_name="delivery", old_name="sent_at", new_name="handed_over_at"),
        migrations.AddField(model_name="delivery", name="sent_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(
            model_name="delivery",
            name="retry_from",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.DeleteModel(name="ReviewDigest"),
    ]
