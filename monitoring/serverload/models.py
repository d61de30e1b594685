"""Server load models (samples, rollups, alerts) and configuration drift (watched files, baselines).

Raw samples are kept 48 hours; rollups (average and maximum) are kept per tier:
5-minute buckets for 30 days, hourly for 2 years and daily for 2 years (the
daily tier lets a one-year chart read 365 rows instead of 8,760).

The tables keep the names they had when monitoring was one app (``monitoring_*``, set with
``Meta.db_table``): see ``migrations/0001_initial.py`` for why they were not renamed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.singletons import Singleton

__all__ = [
    "DriftBaseline",
    "DriftCheck",
    "DriftFinding",
    "LoadAlert",
    "LoadRollup",
    "LoadSample",
    "LoadSettings",
    "LoadState",
    "LoadThreshold",
    "MailSystemAlert",
]

MAIL_PORTS = (25, 465, 587, 110, 143, 993, 995)

# The Debian starter list: Postfix, Dovecot (its real settings live in conf.d), the spam filter when present.
# The map files main.cf names (hash:/etc/postfix/virtual, ...) are watched with it (drift.postfix_maps).
DRIFT_DEFAULT_FILES = "\n".join(
    [
        "/etc/postfix/*.cf",
        "/etc/dovecot/dovecot.conf",
        "/etc/dovecot/conf.d/*.conf",
        "/etc/spamassassin/local.cf",
        "/etc/rspamd/local.d/*",
        "/etc/mailname",
    ]
)

# The numeric series kept for every sample and rolled up into every tier.
ROLLUP_FIELDS = (
    "cpu",
    "load",
    "memory",
    "swap",
    "disk",
    "disk_read",
    "disk_write",
    "net_in",
    "net_out",
    "net_in_pct",
    "net_out_pct",
    "connections",
    "queue",
    "queue_deferred",
    "deferred_age",
)


class Metric(models.TextChoices):
    CPU = "cpu", "CPU"
    LOAD = "load", "Load per core"
    MEMORY = "memory", "Memory"
    SWAP = "swap", "Swap"
    DISK = "disk", "Disk space"
    NET_IN = "net_in_pct", "Download (share of the line)"
    NET_OUT = "net_out_pct", "Upload (share of the line)"
    QUEUE = "queue", "Mail queue"
    DEFERRED_AGE = "deferred_age", "Oldest deferred message"


# Metrics not in percent, and their unit.
UNITS = {Metric.QUEUE.value: "messages", Metric.DEFERRED_AGE.value: "hours"}
BANDWIDTH_METRICS = {Metric.NET_IN.value, Metric.NET_OUT.value}


def due_now() -> datetime:
    """Default of the ``next_*_at`` fields: a new installation's work is due at once."""
    return datetime(2000, 1, 1, tzinfo=UTC)


def _default_mounts() -> str:
    return "/\n/var/spool/postfix\n/var/mail"


class LoadSettings(Singleton):
    """The single row of settings IT staff edit on the settings page (``LoadSettings.load()``)."""

    sample_interval_seconds = models.PositiveIntegerField(
        default=60, help_text="How often the server's load is sampled (30 to 3600 seconds)."
    )
    line_download_mbps = models.FloatField(
        null=True, blank=True, help_text="The internet line's download capacity in Mbit/s (from the ISP contract)."
    )
    line_upload_mbps = models.FloatField(
        null=True, blank=True, help_text="The upload capacity in Mbit/s; most business lines are asymmetric."
    )
    line_interfaces = models.CharField(
        max_length=300,
        blank=True,
        help_text="Network interfaces on that line, comma-separated (blank: all but loopback and virtual ones).",
    )
    watched_mounts = models.TextField(
        default=_default_mounts, help_text="Folders whose disk is watched, one per line (missing ones are skipped)."
    )

    class MailSystem(models.TextChoices):
        AUTO = "auto", "Found automatically (Postfix, else Exim)"
        POSTFIX = "postfix", "Postfix"
        EXIM = "exim", "Exim"
        NONE = "none", "None on this server"

    # The worker runs the mail system's own queue program with fixed arguments, without a shell
    # (mailqueue.queue_command): nothing typed on a web page becomes a command line.
    mail_system = models.CharField(
        max_length=10,
        choices=MailSystem.choices,
        default=MailSystem.AUTO,
        help_text="The mail server whose queue and processes are watched.",
    )
    mail_binary = models.CharField(
        max_length=300,
        blank=True,
        help_text="Only if it is not where Debian puts it: the absolute path of <code>postqueue</code> (Postfix) "
        "or <code>exim</code> / <code>exim4</code> (Exim).",
    )
    # A free-text queue command from before the list above that its migration could not map (shown once
    # on the settings page; cleared when the settings are saved). Never run.
    unmapped_queue_command = models.CharField(max_length=300, blank=True)
    watched_files = models.TextField(
        default=DRIFT_DEFAULT_FILES,
        help_text="Configuration files compared with their approved baseline, with a diff, one per line; globs "
        "such as <code>/etc/dovecot/conf.d/*.conf</code> are allowed. Known secret files are compared by "
        "checksum only wherever they are listed.",
    )
    checksum_files = models.TextField(
        blank=True,
        default="",
        help_text="Files compared by checksum only (their content is never stored or shown), one per line; "
        "globs allowed.",
    )
    drift_check_interval_hours = models.PositiveIntegerField(
        default=6, help_text="How often configuration files are checked (1 to 168 hours)."
    )
    next_sample_at = models.DateTimeField(default=due_now)
    next_prune_at = models.DateTimeField(default=due_now)
    next_drift_check_at = models.DateTimeField(default=due_now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "monitoring_loadsettings"
        verbose_name = "load and drift settings"
        verbose_name_plural = "load and drift settings"

    def __str__(self) -> str:
        return "Load and drift settings"

    def mount_list(self) -> list[str]:
        return [line.strip() for line in self.watched_mounts.splitlines() if line.strip()]

    def interface_list(self) -> list[str]:
        return [name.strip() for name in self.line_interfaces.split(",") if name.strip()]

    def watched_patterns(self) -> list[str]:
        """Every watched pattern, diff and checksum-only ones."""
        return list(dict.fromkeys(self.diff_patterns() + self.checksum_patterns()))

    def diff_patterns(self) -> list[str]:
        return [line.strip() for line in self.watched_files.splitlines() if line.strip()]

    def checksum_patterns(self) -> list[str]:
        return [line.strip() for line in self.checksum_files.splitlines() if line.strip()]


class LoadState(Singleton):
    """What the sampler remembers between runs (any worker process): the previous counters and derived facts."""

    previous = models.JSONField(default=dict, blank=True)  # counters of the last reading, for rates
    previous_at = models.DateTimeField(null=True, blank=True)
    rolled_until = models.JSONField(default=dict, blank=True)  # tier -> ISO time up to which rollups are built
    disk_forecast = models.JSONField(default=list, blank=True)
    forecast_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        db_table = "monitoring_loadstate"

    def __str__(self) -> str:
        return "Load sampler state"


class LoadSample(models.Model):
    """One reading of the mail server's load. Rates are per second over the time since the previous reading."""

    taken_at = models.DateTimeField(unique=True)
    cpu = models.FloatField(help_text="percent, all cores")
    cpu_per_core = models.JSONField(default=list)
    load = models.FloatField(help_text="1-minute load average per core, percent")
    load_average = models.JSONField(default=list)  # [1, 5, 15] minutes
    cores = models.PositiveSmallIntegerField(default=1)
    memory = models.FloatField()
    swap = models.FloatField()
    disk = models.FloatField(help_text="the fullest watched mount, percent")
    disks = models.JSONField(default=list)  # [{"mount", "percent", "used", "total"}]
    disk_read = models.FloatField(help_text="bytes/s")
    disk_write = models.FloatField(help_text="bytes/s")
    net_in = models.FloatField(help_text="bit/s received on the line")
    net_out = models.FloatField(help_text="bit/s sent on the line")
    net_in_pct = models.FloatField(null=True, blank=True)
    net_out_pct = models.FloatField(null=True, blank=True)
    interfaces = models.JSONField(default=list)  # [{"name", "in", "out"}] bit/s
    connections = models.PositiveIntegerField(default=0, help_text="TCP connections on the mail ports")
    connections_by_port = models.JSONField(default=dict)  # {"25": {"ESTABLISHED": 3}, ...}
    processes = models.JSONField(default=list)  # [{"name", "count", "cpu", "rss", "memory"}]
    mail_server = models.CharField(max_length=40, blank=True)  # postfix | exim | "" (none found)
    queue_status = models.CharField(max_length=20, default="none")  # ok | none | error
    queue_error = models.CharField(max_length=300, blank=True)
    queue = models.PositiveIntegerField(null=True, blank=True)
    queue_active = models.PositiveIntegerField(null=True, blank=True)
    queue_deferred = models.PositiveIntegerField(null=True, blank=True)
    queue_hold = models.PositiveIntegerField(null=True, blank=True)
    queue_oldest_age = models.FloatField(null=True, blank=True, help_text="seconds since the oldest message arrived")
    deferred_age = models.FloatField(null=True, blank=True, help_text="hours since the oldest deferred message arrived")
    deferral_reasons = models.JSONField(default=list, blank=True)  # [[reason, count], ...] most common first
    # What is wrong with the mail system in plain words (empty: nothing): queue unreadable, master gone.
    mail_problems = models.JSONField(default=list, blank=True)

    class Meta:
        db_table = "monitoring_loadsample"
        ordering = ["-taken_at"]
        get_latest_by = "taken_at"

    def __str__(self) -> str:
        return f"Load sample {self.taken_at:%Y-%m-%d %H:%M:%S}"

    def metric_value(self, metric: str) -> float | None:
        value = getattr(self, metric)
        return None if value is None else float(value)


class LoadRollup(models.Model):
    """Average and maximum of the samples in one bucket of a tier."""

    class Tier(models.TextChoices):
        FIVE_MINUTES = "5m", "5 minutes"
        HOUR = "1h", "1 hour"
        DAY = "1d", "1 day"

    tier = models.CharField(max_length=2, choices=Tier.choices)
    bucket_start = models.DateTimeField()
    samples = models.PositiveIntegerField(default=0)
    cpu_avg = models.FloatField(null=True)
    cpu_max = models.FloatField(null=True)
    load_avg = models.FloatField(null=True)
    load_max = models.FloatField(null=True)
    memory_avg = models.FloatField(null=True)
    memory_max = models.FloatField(null=True)
    swap_avg = models.FloatField(null=True)
    swap_max = models.FloatField(null=True)
    disk_avg = models.FloatField(null=True)
    disk_max = models.FloatField(null=True)
    disk_read_avg = models.FloatField(null=True)
    disk_read_max = models.FloatField(null=True)
    disk_write_avg = models.FloatField(null=True)
    disk_write_max = models.FloatField(null=True)
    net_in_avg = models.FloatField(null=True)
    net_in_max = models.FloatField(null=True)
    net_out_avg = models.FloatField(null=True)
    net_out_max = models.FloatField(null=True)
    net_in_pct_avg = models.FloatField(null=True)
    net_in_pct_max = models.FloatField(null=True)
    net_out_pct_avg = models.FloatField(null=True)
    net_out_pct_max = models.FloatField(null=True)
    connections_avg = models.FloatField(null=True)
    connections_max = models.FloatField(null=True)
    queue_avg = models.FloatField(null=True)
    queue_max = models.FloatField(null=True)
    queue_deferred_avg = models.FloatField(null=True)
    queue_deferred_max = models.FloatField(null=True)
    deferred_age_avg = models.FloatField(null=True)
    deferred_age_max = models.FloatField(null=True)

    class Meta:
        db_table = "monitoring_loadrollup"
        ordering = ["tier", "bucket_start"]
        constraints = [models.UniqueConstraint(fields=["tier", "bucket_start"], name="load_rollup_unique_bucket")]

    def __str__(self) -> str:
        return f"{self.get_tier_display()} from {self.bucket_start:%Y-%m-%d %H:%M}"


class LoadThreshold(models.Model):
    """Alert marks for one metric, and where the metric stands against them right now."""

    metric = models.CharField(max_length=20, choices=Metric.choices, unique=True)
    enabled = models.BooleanField(default=True)
    warning = models.FloatField(default=80)
    critical = models.FloatField(default=90)
    clear = models.FloatField(default=70, help_text="An alert clears only when the value falls to this mark.")
    duration_minutes = models.PositiveIntegerField(
        default=5, help_text="Minutes above the warning mark before an alert is raised."
    )
    above_since = models.DateTimeField(null=True, blank=True)
    critical_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "monitoring_loadthreshold"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} thresholds"

    @property
    def unit(self) -> str:
        return UNITS.get(self.metric, "%")

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    def level_for(self, value: float | None) -> str:
        """ok | warning | critical for a gauge (no duration: the colour of the current value)."""
        if value is None:
            return "unknown"
        if value >= self.critical:
            return "critical"
        if value >= self.warning:
            return "warning"
        return "ok"

    @classmethod
    def defaults(cls) -> dict[str, dict]:
        marks = {metric.value: {"warning": 80, "critical": 90, "clear": 70} for metric in Metric}
        marks[Metric.QUEUE.value] = {"warning": 200, "critical": 1000, "clear": 100}
        # Hours: a message deferred for 4 hours is stuck (Postfix gives up after 5 days); 2 h clears it.
        marks[Metric.DEFERRED_AGE.value] = {"warning": 4, "critical": 24, "clear": 2}
        return marks

    @classmethod
    def ensure_defaults(cls) -> list[LoadThreshold]:
        existing = {t.metric: t for t in cls.objects.all()}
        missing = [cls(metric=metric, **marks) for metric, marks in cls.defaults().items() if metric not in existing]
        if missing:
            cls.objects.bulk_create(missing, ignore_conflicts=True)
        return list(cls.objects.all())


class LoadAlert(models.Model):
    """One episode of a metric above its mark: raised after the duration, cleared at the clear mark."""

    metric = models.CharField(max_length=20, choices=Metric.choices)
    level = models.CharField(max_length=10, default="warning")  # warning | critical (the highest reached)
    raised_at = models.DateTimeField(db_index=True)
    above_since = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    warning_mark = models.FloatField()
    critical_mark = models.FloatField()
    clear_mark = models.FloatField()
    value_at_raise = models.FloatField()
    peak = models.FloatField()
    value_at_clear = models.FloatField(null=True, blank=True)
    isp_report = models.TextField(blank=True)

    class Meta:
        db_table = "monitoring_loadalert"
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["metric"], condition=models.Q(cleared_at__isnull=True), name="load_alert_one_open_per_metric"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} {self.level} at {self.raised_at:%Y-%m-%d %H:%M}"

    def messages(self):
        """Its messages to IT (raised and cleared, email and channels) in the outbox."""
        from portal.outbox import messages_about

        return messages_about(f"serverload.load-raised:{self.pk}", f"serverload.load-cleared:{self.pk}")

    def messages_summary(self) -> tuple[str, str]:
        from portal.outbox import summary

        return summary(self.messages())

    @property
    def is_open(self) -> bool:
        return self.cleared_at is None

    @property
    def unit(self) -> str:
        return UNITS.get(self.metric, "%")

    @property
    def is_bandwidth(self) -> bool:
        return self.metric in BANDWIDTH_METRICS

    @property
    def is_queue(self) -> bool:
        return self.metric in (Metric.QUEUE, Metric.DEFERRED_AGE)

    def queue_facts(self) -> LoadSample | None:
        """The latest sample, for a queue alert's oldest message and most common deferral reasons."""
        return LoadSample.objects.filter(queue_status="ok").order_by("-taken_at").first() if self.is_queue else None


class MailSystemAlert(models.Model):
    """One episode of the mail system being down: its queue unreadable or its master process gone (key
    ``mail_system``), or a mail-path service that stopped reporting its heartbeat (``service:<name>``).

    Raised at the first sample that finds it, cleared at the first that does not; each is one alert through
    the outbox (``emails.send_mail_down`` / ``send_mail_back``, keyed by the row). ``detail`` is plain words
    anyone may read (home page, executive summary); ``error`` is what the worker saw (IT staff only).
    """

    key = models.CharField(max_length=60)
    title = models.CharField(max_length=100)  # "Mail system", "App-password verifier (mail_auth)"
    detail = models.CharField(max_length=300)
    error = models.CharField(max_length=300, blank=True)
    raised_at = models.DateTimeField(db_index=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    clear_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=models.Q(cleared_at__isnull=True), name="mail_system_alert_one_open_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} down at {self.raised_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.cleared_at is None


class DriftBaseline(models.Model):
    """The approved state of one watched file: its SHA-256 and, for text up to 256 KiB, its content."""

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        BINARY = "binary", "Binary (checksum only)"
        HUGE = "huge", "Over 256 KiB (checksum only)"
        CHECKSUM = "checksum", "Checksum only (may hold secrets)"

    path = models.CharField(max_length=1000, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(default=0)
    content = models.TextField(blank=True)
    approved_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        db_table = "monitoring_driftbaseline"
        ordering = ["path"]

    def __str__(self) -> str:
        return self.path


class DriftCheck(models.Model):
    """One comparison of the watched files with their baselines (scheduled or after patching)."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Scheduled"
        PATCHED = "patched", "After patching"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to run"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    files_checked = models.PositiveIntegerField(default=0)
    new_findings = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "monitoring_driftcheck"
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"Drift check {self.requested_at:%Y-%m-%d %H:%M} ({self.get_trigger_display()})"


class DriftFinding(models.Model):
    """A watched file that is not as approved: changed, gone, unreadable, new, or watchable by checksum only."""

    class Kind(models.TextChoices):
        CHANGED = "changed", "Changed"
        MISSING = "missing", "Missing"
        UNREADABLE = "unreadable", "Unreadable"
        NEW = "new", "New file"
        BINARY = "binary", "Binary file"
        HUGE = "huge", "Too large for a diff"

    check_run = models.ForeignKey(DriftCheck, on_delete=models.CASCADE, related_name="findings")
    path = models.CharField(max_length=1000, db_index=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    detail = models.CharField(max_length=500, blank=True)
    old_sha256 = models.CharField(max_length=64, blank=True)
    new_sha256 = models.CharField(max_length=64, blank=True)
    new_kind = models.CharField(max_length=10, blank=True)  # DriftBaseline.Kind of what was found
    new_size = models.PositiveBigIntegerField(null=True, blank=True)
    new_content = models.TextField(blank=True)
    diff = models.TextField(blank=True)
    # Plain sentences, one per line, for a change that opens the server (drift_rules); such a finding is
    # critical and says so on every page and in the email.
    risks = models.TextField(blank=True)
    found_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution = models.CharField(max_length=20, blank=True)  # approved | restored | superseded | noted
    note = models.TextField(blank=True)

    class Meta:
        db_table = "monitoring_driftfinding"
        ordering = ["-found_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["path"], condition=models.Q(resolved_at__isnull=True), name="drift_one_open_finding_per_path"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.path}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def severity(self) -> str:
        serious = {self.Kind.CHANGED, self.Kind.MISSING, self.Kind.UNREADABLE}
        return "critical" if self.risks or self.kind in serious else "warning"

    def risk_list(self) -> list[str]:
        return [line for line in self.risks.splitlines() if line.strip()]
