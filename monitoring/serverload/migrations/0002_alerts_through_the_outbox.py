"""Load alerts and drift findings reach IT through the outbox now (portal.OutboxMessage, keys
serverload.load-raised/-cleared:<alert>, serverload.drift:<check>): the rows no longer track their own
sending. An email still unsent at the upgrade (SMTP was down) is not carried over; the alert and the
findings themselves stay on their pages.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("serverload", "0001_initial"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="driftcheck",
            name="mail_error",
        ),
        migrations.RemoveField(
            model_name="driftcheck",
            name="mail_sent_at",
        ),
        migrations.RemoveField(
            model_name="loadalert",
            name="cleared_mail_sent_at",
        ),
        migrations.RemoveField(
            model_name="loadalert",
            name="mail_attempts",
        ),
        migrations.RemoveField(
            model_name="loadalert",
            name="mail_error",
        ),
        migrations.RemoveField(
            model_name="loadalert",
            name="raised_mail_sent_at",
        ),
    ]
