"""Hand the monitoring models over to the two apps that own them now: ``dnsbl`` and ``serverload``.

State only: the tables and their rows stay exactly where they are. ``dnsbl/0001_initial`` and
``serverload/0001_initial`` (which run after this one) take the same models into their own
state, on the same tables (``Meta.db_table``). Models that others point at are dropped last,
so the state never holds a foreign key to a model it has already forgotten.

The content types move with the models (``monitoring.dnsblzone`` becomes ``dnsbl.dnsblzone``,
keeping its id), so admin log entries and permissions still point at the right models. On a
fresh install there is nothing to move yet: ``post_migrate`` creates the new ones afterwards.
"""

from django.db import migrations

MOVES = {
    # DNS block lists -> dnsbl
    "SweepZoneHealth": "dnsbl",
    "DnsblResult": "dnsbl",
    "ListingChange": "dnsbl",
    "DnsblSweep": "dnsbl",
    "MonitoredAddress": "dnsbl",
    "DnsblZone": "dnsbl",
    "DnsblSchedule": "dnsbl",
    # Server load and configuration drift -> serverload
    "DriftFinding": "serverload",
    "DriftCheck": "serverload",
    "DriftBaseline": "serverload",
    "LoadAlert": "serverload",
    "LoadThreshold": "serverload",
    "LoadRollup": "serverload",
    "LoadSample": "serverload",
    "LoadState": "serverload",
    "LoadSettings": "serverload",
}


def _move_content_types(apps, backwards: bool) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    LogEntry = apps.get_model("admin", "LogEntry")
    for name, app in MOVES.items():
        source, target = (app, "monitoring") if backwards else ("monitoring", app)
        moving = ContentType.objects.filter(app_label=source, model=name.lower()).first()
        if moving is None:
            continue
        existing = ContentType.objects.filter(app_label=target, model=name.lower()).first()
        if existing is not None:
            # Both exist (post_migrate ran in between, e.g. after migrating back and forth): keep the
            # moving row, which carries the permission grants, and bring the other's log entries over.
            LogEntry.objects.filter(content_type=existing).update(content_type=moving)
            existing.delete()
        moving.app_label = target
        moving.save(update_fields=["app_label"])


def forwards(apps, schema_editor) -> None:
    _move_content_types(apps, backwards=False)


def backwards(apps, schema_editor) -> None:
    _move_content_types(apps, backwards=True)


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0003_dnsbl_catalogue"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name) for name in MOVES],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
