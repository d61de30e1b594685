"""The server load and configuration drift models, taken over from the ``monitoring`` app (state only).

Until this split, these models belonged to the one ``monitoring`` app, which created their
tables in its migration 0002; ``monitoring/0004`` then dropped them from its state. This
migration adds the same models to this app's state, with the same fields, constraints and
foreign keys (to ``accounts.User`` and to each other), on the same tables: no SQL runs, so an
existing install keeps every row, and a fresh install gets the tables from the ``monitoring``
chain before this runs.

Why the tables keep their ``monitoring_*`` names (``Meta.db_table``) instead of being renamed
with ``AlterModelTable``: a rename buys nothing but looks, and would be half done anyway - the
index, constraint and sequence names PostgreSQL derived from the old table names stay as they
are, so the schema would mix both prefixes. Keeping the names means zero database operations,
nothing to lock or rewrite on a large ``monitoring_loadsample``, and a trivially safe way back
(``migrate serverload zero``).

The content types (admin log entries, permissions) move from ``monitoring`` to ``serverload``
in ``monitoring/0004``.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import monitoring.serverload.models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("monitoring", "0004_models_moved_to_dnsbl_and_serverload"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],  # the tables exist already (monitoring 0001-0003)
            state_operations=[
                migrations.CreateModel(
                    name="LoadSample",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("taken_at", models.DateTimeField(unique=True)),
                        ("cpu", models.FloatField(help_text="percent, all cores")),
                        ("cpu_per_core", models.JSONField(default=list)),
                        ("load", models.FloatField(help_text="1-minute load average per core, percent")),
                        ("load_average", models.JSONField(default=list)),
                        ("cores", models.PositiveSmallIntegerField(default=1)),
                        ("memory", models.FloatField()),
                        ("swap", models.FloatField()),
                        ("disk", models.FloatField(help_text="the fullest watched mount, percent")),
                        ("disks", models.JSONField(default=list)),
                        ("disk_read", models.FloatField(help_text="bytes/s")),
                        ("disk_write", models.FloatField(help_text="bytes/s")),
                        ("net_in", models.FloatField(help_text="bit/s received on the line")),
                        ("net_out", models.FloatField(help_text="bit/s sent on the line")),
                        ("net_in_pct", models.FloatField(blank=True, null=True)),
                        ("net_out_pct", models.FloatField(blank=True, null=True)),
                        ("interfaces", models.JSONField(default=list)),
                        (
                            "connections",
                            models.PositiveIntegerField(default=0, help_text="TCP connections on the mail ports"),
                        ),
                        ("connections_by_port", models.JSONField(default=dict)),
                        ("processes", models.JSONField(default=list)),
                        ("mail_server", models.CharField(blank=True, max_length=40)),
                        ("queue_status", models.CharField(default="none", max_length=20)),
                        ("queue_error", models.CharField(blank=True, max_length=300)),
                        ("queue", models.PositiveIntegerField(blank=True, null=True)),
                        ("queue_active", models.PositiveIntegerField(blank=True, null=True)),
                        ("queue_deferred", models.PositiveIntegerField(blank=True, null=True)),
                        ("queue_hold", models.PositiveIntegerField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "monitoring_loadsample",
                        "ordering": ["-taken_at"],
                        "get_latest_by": "taken_at",
                    },
                ),
                migrations.CreateModel(
                    name="LoadSettings",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "sample_interval_seconds",
                            models.PositiveIntegerField(
                                default=60, help_text="How often the server's load is sampled (30 to 3600 seconds)."
                            ),
                        ),
                        (
                            "line_download_mbps",
                            models.FloatField(
                                blank=True,
                                help_text="The internet line's download capacity in Mbit/s (from the ISP contract).",
                                null=True,
                            ),
                        ),
                        (
                            "line_upload_mbps",
                            models.FloatField(
                                blank=True,
                                help_text="The upload capacity in Mbit/s; most business lines are asymmetric.",
                                null=True,
                            ),
                        ),
                        (
                            "line_interfaces",
                            models.CharField(
                                blank=True,
                                help_text="Network interfaces on that line, comma-separated (blank: all but loopback and virtual ones).",
                                max_length=300,
                            ),
                        ),
                        (
                            "watched_mounts",
                            models.TextField(
                                default=monitoring.serverload.models._default_mounts,
                                help_text="Folders whose disk is watched, one per line (missing ones are skipped).",
                            ),
                        ),
                        (
                            "queue_command",
                            models.CharField(
                                blank=True,
                                help_text="Command printing the mail queue, e.g. <code>postqueue -j</code> or <code>exim -bpc</code> (blank: found automatically).",
                                max_length=300,
                            ),
                        ),
                        (
                            "watched_files",
                            models.TextField(
                                default="/etc/postfix/main.cf\n/etc/postfix/master.cf\n/etc/dovecot/dovecot.conf\n/etc/spamassassin/local.cf\n/etc/rspamd/local.d/*.conf\n/etc/mailname",
                                help_text="Configuration files compared with their approved baseline, one per line; globs such as <code>/etc/rspamd/local.d/*.conf</code> are allowed.",
                            ),
                        ),
                        (
                            "drift_check_interval_hours",
                            models.PositiveIntegerField(
                                default=6, help_text="How often configuration files are checked (1 to 168 hours)."
                            ),
                        ),
                        ("next_sample_at", models.DateTimeField(default=monitoring.serverload.models.due_now)),
                        ("next_prune_at", models.DateTimeField(default=monitoring.serverload.models.due_now)),
                        ("next_drift_check_at", models.DateTimeField(default=monitoring.serverload.models.due_now)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        "verbose_name": "load and drift settings",
                        "verbose_name_plural": "load and drift settings",
                        "db_table": "monitoring_loadsettings",
                    },
                ),
                migrations.CreateModel(
                    name="LoadState",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("previous", models.JSONField(blank=True, default=dict)),
                        ("previous_at", models.DateTimeField(blank=True, null=True)),
                        ("rolled_until", models.JSONField(blank=True, default=dict)),
                        ("disk_forecast", models.JSONField(blank=True, default=list)),
                        ("forecast_at", models.DateTimeField(blank=True, null=True)),
                        ("last_error", models.TextField(blank=True)),
                    ],
                    options={
                        "db_table": "monitoring_loadstate",
                    },
                ),
                migrations.CreateModel(
                    name="LoadThreshold",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "metric",
                            models.CharField(
                                choices=[
                                    ("cpu", "CPU"),
                                    ("load", "Load per core"),
                                    ("memory", "Memory"),
                                    ("swap", "Swap"),
                                    ("disk", "Disk space"),
                                    ("net_in_pct", "Download (share of the line)"),
                                    ("net_out_pct", "Upload (share of the line)"),
                                    ("queue", "Mail queue"),
                                ],
                                max_length=20,
                                unique=True,
                            ),
                        ),
                        ("enabled", models.BooleanField(default=True)),
                        ("warning", models.FloatField(default=80)),
                        ("critical", models.FloatField(default=90)),
                        (
                            "clear",
                            models.FloatField(
                                default=70, help_text="An alert clears only when the value falls to this mark."
                            ),
                        ),
                        (
                            "duration_minutes",
                            models.PositiveIntegerField(
                                default=5, help_text="Minutes above the warning mark before an alert is raised."
                            ),
                        ),
                        ("above_since", models.DateTimeField(blank=True, null=True)),
                        ("critical_since", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "monitoring_loadthreshold",
                        "ordering": ["id"],
                    },
                ),
                migrations.CreateModel(
                    name="DriftBaseline",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("path", models.CharField(max_length=1000, unique=True)),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("text", "Text"),
                                    ("binary", "Binary (checksum only)"),
                                    ("huge", "Over 256 KiB (checksum only)"),
                                ],
                                default="text",
                                max_length=10,
                            ),
                        ),
                        ("sha256", models.CharField(max_length=64)),
                        ("size", models.PositiveBigIntegerField(default=0)),
                        ("content", models.TextField(blank=True)),
                        ("approved_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("note", models.TextField(blank=True)),
                        (
                            "approved_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_driftbaseline",
                        "ordering": ["path"],
                    },
                ),
                migrations.CreateModel(
                    name="DriftCheck",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "trigger",
                            models.CharField(
                                choices=[("schedule", "Scheduled"), ("patched", "After patching")],
                                default="schedule",
                                max_length=10,
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[("pending", "Waiting to run"), ("running", "Running"), ("done", "Done")],
                                default="pending",
                                max_length=10,
                            ),
                        ),
                        ("requested_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("files_checked", models.PositiveIntegerField(default=0)),
                        ("new_findings", models.PositiveIntegerField(default=0)),
                        ("mail_sent_at", models.DateTimeField(blank=True, null=True)),
                        ("mail_error", models.CharField(blank=True, max_length=300)),
                        (
                            "requested_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_driftcheck",
                        "ordering": ["-requested_at", "-id"],
                    },
                ),
                migrations.CreateModel(
                    name="LoadAlert",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "metric",
                            models.CharField(
                                choices=[
                                    ("cpu", "CPU"),
                                    ("load", "Load per core"),
                                    ("memory", "Memory"),
                                    ("swap", "Swap"),
                                    ("disk", "Disk space"),
                                    ("net_in_pct", "Download (share of the line)"),
                                    ("net_out_pct", "Upload (share of the line)"),
                                    ("queue", "Mail queue"),
                                ],
                                max_length=20,
                            ),
                        ),
                        ("level", models.CharField(default="warning", max_length=10)),
                        ("raised_at", models.DateTimeField(db_index=True)),
                        ("above_since", models.DateTimeField()),
                        ("cleared_at", models.DateTimeField(blank=True, null=True)),
                        ("warning_mark", models.FloatField()),
                        ("critical_mark", models.FloatField()),
                        ("clear_mark", models.FloatField()),
                        ("value_at_raise", models.FloatField()),
                        ("peak", models.FloatField()),
                        ("value_at_clear", models.FloatField(blank=True, null=True)),
                        ("isp_report", models.TextField(blank=True)),
                        ("raised_mail_sent_at", models.DateTimeField(blank=True, null=True)),
                        ("cleared_mail_sent_at", models.DateTimeField(blank=True, null=True)),
                        ("mail_attempts", models.PositiveIntegerField(default=0)),
                        ("mail_error", models.CharField(blank=True, max_length=300)),
                    ],
                    options={
                        "db_table": "monitoring_loadalert",
                        "ordering": ["-raised_at", "-id"],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("cleared_at__isnull", True)),
                                fields=("metric",),
                                name="load_alert_one_open_per_metric",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="LoadRollup",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "tier",
                            models.CharField(
                                choices=[("5m", "5 minutes"), ("1h", "1 hour"), ("1d", "1 day")], max_length=2
                            ),
                        ),
                        ("bucket_start", models.DateTimeField()),
                        ("samples", models.PositiveIntegerField(default=0)),
                        ("cpu_avg", models.FloatField(null=True)),
                        ("cpu_max", models.FloatField(null=True)),
                        ("load_avg", models.FloatField(null=True)),
                        ("load_max", models.FloatField(null=True)),
                        ("memory_avg", models.FloatField(null=True)),
                        ("memory_max", models.FloatField(null=True)),
                        ("swap_avg", models.FloatField(null=True)),
                        ("swap_max", models.FloatField(null=True)),
                        ("disk_avg", models.FloatField(null=True)),
                        ("disk_max", models.FloatField(null=True)),
                        ("disk_read_avg", models.FloatField(null=True)),
                        ("disk_read_max", models.FloatField(null=True)),
                        ("disk_write_avg", models.FloatField(null=True)),
                        ("disk_write_max", models.FloatField(null=True)),
                        ("net_in_avg", models.FloatField(null=True)),
                        ("net_in_max", models.FloatField(null=True)),
                        ("net_out_avg", models.FloatField(null=True)),
                        ("net_out_max", models.FloatField(null=True)),
                        ("net_in_pct_avg", models.FloatField(null=True)),
                        ("net_in_pct_max", models.FloatField(null=True)),
                        ("net_out_pct_avg", models.FloatField(null=True)),
                        ("net_out_pct_max", models.FloatField(null=True)),
                        ("connections_avg", models.FloatField(null=True)),
                        ("connections_max", models.FloatField(null=True)),
                        ("queue_avg", models.FloatField(null=True)),
                        ("queue_max", models.FloatField(null=True)),
                        ("queue_deferred_avg", models.FloatField(null=True)),
                        ("queue_deferred_max", models.FloatField(null=True)),
                    ],
                    options={
                        "db_table": "monitoring_loadrollup",
                        "ordering": ["tier", "bucket_start"],
                        "constraints": [
                            models.UniqueConstraint(fields=("tier", "bucket_start"), name="load_rollup_unique_bucket")
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="DriftFinding",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("path", models.CharField(db_index=True, max_length=1000)),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("changed", "Changed"),
                                    ("missing", "Missing"),
                                    ("unreadable", "Unreadable"),
                                    ("new", "New file"),
                                    ("binary", "Binary file"),
                                    ("huge", "Too large for a diff"),
                                ],
                                max_length=12,
                            ),
                        ),
                        ("detail", models.CharField(blank=True, max_length=500)),
                        ("old_sha256", models.CharField(blank=True, max_length=64)),
                        ("new_sha256", models.CharField(blank=True, max_length=64)),
                        ("new_kind", models.CharField(blank=True, max_length=10)),
                        ("new_size", models.PositiveBigIntegerField(blank=True, null=True)),
                        ("new_content", models.TextField(blank=True)),
                        ("diff", models.TextField(blank=True)),
                        ("found_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("last_seen_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("resolved_at", models.DateTimeField(blank=True, null=True)),
                        ("resolution", models.CharField(blank=True, max_length=20)),
                        ("note", models.TextField(blank=True)),
                        (
                            "check_run",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="findings",
                                to="serverload.driftcheck",
                            ),
                        ),
                        (
                            "resolved_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_driftfinding",
                        "ordering": ["-found_at", "-id"],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("resolved_at__isnull", True)),
                                fields=("path",),
                                name="drift_one_open_finding_per_path",
                            )
                        ],
                    },
                ),
            ],
        )
    ]
