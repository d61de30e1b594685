"""Issue 13/14: the mail system chosen from a list, queue ages and deferral reasons, mail-system alerts,
drift modes and risks. The free-text queue command is mapped, then removed, by 0003."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("serverload", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="driftfinding",
            name="risks",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="loadrollup",
            name="deferred_age_avg",
            field=models.FloatField(null=True),
        ),
        migrations.AddField(
            model_name="loadrollup",
            name="deferred_age_max",
            field=models.FloatField(null=True),
        ),
        migrations.AddField(
            model_name="loadsample",
            name="deferral_reasons",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="loadsample",
            name="deferred_age",
            field=models.FloatField(blank=True, help_text="hours since the oldest deferred message arrived", null=True),
        ),
        migrations.AddField(
            model_name="loadsample",
            name="mail_problems",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="loadsample",
            name="queue_oldest_age",
            field=models.FloatField(blank=True, help_text="seconds since the oldest message arrived", null=True),
        ),
        migrations.AddField(
            model_name="loadsettings",
            name="checksum_files",
            field=models.TextField(
                blank=True,
                default="",
                help_text="Files compared by checksum only (their content is never stored or shown), one per line; globs allowed.",
            ),
        ),
        migrations.AddField(
            model_name="loadsettings",
            name="mail_binary",
            field=models.CharField(
                blank=True,
                help_text="Only if it is not where Debian puts it: the absolute path of <code>postqueue</code> (Postfix) or <code>exim</code> / <code>exim4</code> (Exim).",
                max_length=300,
            ),
        ),
        migrations.AddField(
            model_name="loadsettings",
            name="mail_system",
            field=models.CharField(
                choices=[
                    ("auto", "Found automatically (Postfix, else Exim)"),
                    ("postfix", "Postfix"),
                    ("exim", "Exim"),
                    ("none", "None on this server"),
                ],
                default="auto",
                help_text="The mail server whose queue and processes are watched.",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="loadsettings",
            name="unmapped_queue_command",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AlterField(
            model_name="driftbaseline",
            name="kind",
            field=models.CharField(
                choices=[
                    ("text", "Text"),
                    ("binary", "Binary (checksum only)"),
                    ("huge", "Over 256 KiB (checksum only)"),
                    ("checksum", "Checksum only (may hold secrets)"),
                ],
                default="text",
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="loadalert",
            name="metric",
            field=models.CharField(
                choices=[
                    ("cpu", "CPU"),
                    ("load", "Load per core"),
                    ("memory", "Memory"),
                    ("swap", "Swap"),
                    ("disk", "Disk space"),
                    ("net_in_pct", "Download (share of the line)"),
                    ("net_out_pct", "Upload (share of the line)"),
                    ("queue", "Mail queue"),
                    ("deferred_age", "Oldest deferred message"),
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="loadsettings",
            name="watched_files",
            field=models.TextField(
                default="/etc/postfix/*.cf\n/etc/dovecot/dovecot.conf\n/etc/dovecot/conf.d/*.conf\n/etc/spamassassin/local.cf\n/etc/rspamd/local.d/*\n/etc/mailname",
                help_text="Configuration files compared with their approved baseline, with a diff, one per line; globs such as <code>/etc/dovecot/conf.d/*.conf</code> are allowed. Known secret files are compared by checksum only wherever they are listed.",
            ),
        ),
        migrations.AlterField(
            model_name="loadthreshold",
            name="metric",
            field=models.CharField(
                choices=[
                    ("cpu", "CPU"),
                    ("load", "Load per core"),
                    ("memory", "Memory"),
                    ("swap", "Swap"),
                    ("disk", "Disk space"),
                    ("net_in_pct", "Download (share of the line)"),
                    ("net_out_pct", "Upload (share of the line)"),
                    ("queue", "Mail queue"),
                    ("deferred_age", "Oldest deferred message"),
                ],
                max_length=20,
                unique=True,
            ),
        ),
        migrations.CreateModel(
            name="MailSystemAlert",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=60)),
                ("title", models.CharField(max_length=100)),
                ("detail", models.CharField(max_length=300)),
                ("error", models.CharField(blank=True, max_length=300)),
                ("raised_at", models.DateTimeField(db_index=True)),
                ("cleared_at", models.DateTimeField(blank=True, null=True)),
                ("clear_reason", models.CharField(blank=True, max_length=200)),
                ("raised_mail_sent_at", models.DateTimeField(blank=True, null=True)),
                ("cleared_mail_sent_at", models.DateTimeField(blank=True, null=True)),
                ("mail_attempts", models.PositiveIntegerField(default=0)),
                ("mail_error", models.CharField(blank=True, max_length=300)),
            ],
            options={
                "ordering": ["-raised_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("cleared_at__isnull", True)),
                        fields=("key",),
                        name="mail_system_alert_one_open_per_key",
                    )
                ],
            },
        ),
    ]
