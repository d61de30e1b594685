"""Account emails now live in the portal's outbox: copy the unsent ones there, then drop AccountEmail."""

from django.db import migrations


def copy_unsent(apps, schema_editor):
    AccountEmail = apps.get_model("accounts", "AccountEmail")
    OutboxMessage = apps.get_model("portal", "OutboxMessage")
    rows = [
        OutboxMessage(
            key=f"accounts.{email.key}|email"[:300],
            kind=f"accounts-{email.kind}",
            to=email.to,
            subject=email.subject,
            body_text=email.body_text,
            body_html=email.body_html,
            # Invitations and password resets carry a one-time link: blank once sent, as before.
            sensitive=email.kind in ("invitation", "password-reset"),
            status="pending",
            attempts=email.attempts,
            last_error=email.last_error,
            created_at=email.created_at,
            retry_from=email.created_at,
        )
        for email in AccountEmail.objects.filter(status__in=["queued", "sending"])
    ]
    OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_gateway"),
        ("portal", "0002_outbox"),
    ]

    operations = [
        migrations.RunPython(copy_unsent, migrations.RunPython.noop),
        migrations.DeleteModel(name="AccountEmail"),
    ]
