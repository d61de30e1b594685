"""The DNS block list models, taken over from the ``monitoring`` app (state only).

Until this split, these models belonged to the one ``monitoring`` app, which created their
tables in its migrations 0001 (models) and 0003 (the catalogue of lists); ``monitoring/0004``
then dropped them from its state. This migration adds the same models to this app's state,
with the same fields, indexes and foreign keys (to ``accounts.User`` and to each other), on the
same tables: no SQL runs, so an existing install keeps every row, and a fresh install gets the
tables from the ``monitoring`` chain before this runs.

Why the tables keep their ``monitoring_*`` names (``Meta.db_table``) instead of being renamed
with ``AlterModelTable``: a rename buys nothing but looks, and would be half done anyway - the
index, constraint and sequence names PostgreSQL derived from the old table names stay as they
are (the state even names two indexes ``monitoring__...``), so the schema would mix both
prefixes. Keeping the names means zero database operations, nothing to lock or rewrite on a
large ``monitoring_dnsblresult``, and a trivially safe way back (``migrate dnsbl zero``).

The content types (admin log entries, permissions) move from ``monitoring`` to ``dnsbl`` in
``monitoring/0004``.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


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
                    name="DnsblSchedule",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("interval_minutes", models.PositiveIntegerField(default=30)),
                        ("next_run_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("resolver", models.CharField(blank=True, max_length=200)),
                        ("resolver_is_public", models.BooleanField(default=False)),
                        ("resolver_rewrites_nxdomain", models.BooleanField(default=False)),
                    ],
                    options={
                        "db_table": "monitoring_dnsblschedule",
                    },
                ),
                migrations.CreateModel(
                    name="DnsblZone",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=100)),
                        (
                            "zone",
                            models.CharField(
                                help_text="The DNS zone queried, e.g. zen.spamhaus.org", max_length=253, unique=True
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[("ip", "IP addresses"), ("domain", "Domain names")],
                                default="ip",
                                max_length=10,
                            ),
                        ),
                        ("ipv6", models.BooleanField(default=False, verbose_name="IPv6 support")),
                        ("codes", models.JSONField(blank=True, default=dict)),
                        (
                            "bitmask",
                            models.BooleanField(
                                default=False, help_text="The last octet is a sum of bits, one per sub-list"
                            ),
                        ),
                        (
                            "refusal_codes",
                            models.JSONField(blank=True, default=list, help_text="Answers that mean 'query refused'"),
                        ),
                        (
                            "refusal_advice",
                            models.TextField(blank=True, help_text="What to do when the list refuses our queries"),
                        ),
                        ("delisting_url", models.URLField(blank=True)),
                        ("needs_registration", models.BooleanField(default=False)),
                        (
                            "needs_key",
                            models.BooleanField(
                                default=False, help_text="Queries go to KEY.zone (Spamhaus DQS, Abusix)"
                            ),
                        ),
                        ("key", models.CharField(blank=True, max_length=100)),
                        ("notes", models.TextField(blank=True)),
                        ("enabled", models.BooleanField(default=True)),
                        ("position", models.PositiveIntegerField(default=100)),
                        (
                            "health",
                            models.CharField(
                                choices=[
                                    ("healthy", "Healthy"),
                                    ("lists-everything", "Lists everything"),
                                    ("not-listing-test-entry", "Not listing its test entry"),
                                    ("refused", "Refusing our queries"),
                                    ("unreachable", "Unreachable"),
                                    ("unchecked", "Not checked yet"),
                                ],
                                default="unchecked",
                                max_length=30,
                            ),
                        ),
                        ("health_detail", models.CharField(blank=True, max_length=300)),
                        ("health_checked_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "monitoring_dnsblzone",
                        "ordering": ["position", "name"],
                    },
                ),
                migrations.CreateModel(
                    name="MonitoredAddress",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("value", models.CharField(max_length=253, unique=True)),
                        (
                            "kind",
                            models.CharField(
                                choices=[("ipv4", "IPv4 address"), ("ipv6", "IPv6 address"), ("domain", "Domain")],
                                max_length=10,
                            ),
                        ),
                        ("label", models.CharField(blank=True, max_length=100)),
                        ("enabled", models.BooleanField(default=True)),
                        ("suggestions", models.JSONField(blank=True, default=list)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "verbose_name_plural": "monitored addresses",
                        "db_table": "monitoring_monitoredaddress",
                        "ordering": ["kind", "value"],
                    },
                ),
                migrations.CreateModel(
                    name="DnsblSweep",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("scheduled", "Scheduled sweep"),
                                    ("manual", "Check now"),
                                    ("check", "New address check"),
                                ],
                                max_length=10,
                            ),
                        ),
                        (
                            "state",
                            models.CharField(
                                choices=[
                                    ("queued", "Queued"),
                                    ("running", "Running"),
                                    ("done", "Done"),
                                    ("failed", "Failed"),
                                ],
                                default="queued",
                                max_length=10,
                            ),
                        ),
                        ("targets", models.JSONField(blank=True, default=list)),
                        ("zone_ids", models.JSONField(blank=True, default=list)),
                        ("total", models.PositiveIntegerField(default=0)),
                        ("done", models.PositiveIntegerField(default=0)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("error", models.CharField(blank=True, max_length=300)),
                        ("alert_text", models.TextField(blank=True)),
                        ("alert_sent_at", models.DateTimeField(blank=True, null=True)),
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
                        "db_table": "monitoring_dnsblsweep",
                        "ordering": ["-created_at", "-pk"],
                        "get_latest_by": "created_at",
                    },
                ),
                migrations.CreateModel(
                    name="SweepZoneHealth",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("zone_name", models.CharField(max_length=253)),
                        (
                            "health",
                            models.CharField(
                                choices=[
                                    ("healthy", "Healthy"),
                                    ("lists-everything", "Lists everything"),
                                    ("not-listing-test-entry", "Not listing its test entry"),
                                    ("refused", "Refusing our queries"),
                                    ("unreachable", "Unreachable"),
                                    ("unchecked", "Not checked yet"),
                                ],
                                max_length=30,
                            ),
                        ),
                        ("detail", models.CharField(blank=True, max_length=300)),
                        (
                            "sweep",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="zone_health",
                                to="dnsbl.dnsblsweep",
                            ),
                        ),
                        (
                            "zone",
                            models.ForeignKey(
                                null=True, on_delete=django.db.models.deletion.SET_NULL, to="dnsbl.dnsblzone"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_sweepzonehealth",
                        "ordering": ["zone_name"],
                    },
                ),
                migrations.CreateModel(
                    name="ListingChange",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("address", models.CharField(blank=True, max_length=253)),
                        ("zone_name", models.CharField(max_length=253)),
                        ("previous", models.CharField(blank=True, max_length=30)),
                        ("current", models.CharField(max_length=30)),
                        ("codes", models.JSONField(blank=True, default=list)),
                        ("meaning", models.CharField(blank=True, max_length=300)),
                        ("txt", models.CharField(blank=True, max_length=500)),
                        ("changed_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "sweep",
                            models.ForeignKey(
                                null=True, on_delete=django.db.models.deletion.SET_NULL, to="dnsbl.dnsblsweep"
                            ),
                        ),
                        (
                            "zone",
                            models.ForeignKey(
                                null=True, on_delete=django.db.models.deletion.SET_NULL, to="dnsbl.dnsblzone"
                            ),
                        ),
                        (
                            "monitored",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                to="dnsbl.monitoredaddress",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_listingchange",
                        "ordering": ["-changed_at", "-pk"],
                        "indexes": [
                            models.Index(
                                fields=["monitored", "zone", "changed_at"], name="monitoring__monitor_3ca74d_idx"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="DnsblResult",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("address", models.CharField(max_length=253)),
                        ("zone_name", models.CharField(max_length=253)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("listed", "Listed"),
                                    ("clean", "Clean"),
                                    ("refused", "Refused"),
                                    ("unknown", "Unknown"),
                                    ("ignored", "Ignored"),
                                ],
                                max_length=10,
                            ),
                        ),
                        ("codes", models.JSONField(blank=True, default=list)),
                        ("meaning", models.CharField(blank=True, max_length=300)),
                        ("txt", models.CharField(blank=True, max_length=500)),
                        ("settled", models.CharField(blank=True, max_length=10)),
                        (
                            "sweep",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="results",
                                to="dnsbl.dnsblsweep",
                            ),
                        ),
                        (
                            "zone",
                            models.ForeignKey(
                                null=True, on_delete=django.db.models.deletion.SET_NULL, to="dnsbl.dnsblzone"
                            ),
                        ),
                        (
                            "monitored",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                to="dnsbl.monitoredaddress",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_dnsblresult",
                        "ordering": ["address", "zone_name"],
                        "indexes": [models.Index(fields=["sweep", "status"], name="monitoring__sweep_i_c01d92_idx")],
                    },
                ),
            ],
        )
    ]
