from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.message_kinds import kind_words


class Heartbeat(models.Model):
    """When a background component (worker, beat) last showed it was alive."""

    name = models.CharField(max_length=40, unique=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.last_seen:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def beat(cls, name: str) -> None:
        cls.objects.update_or_create(name=name, defaults={"last_seen": timezone.now()})

    @classmethod
    def age(cls, name: str) -> timedelta | None:
        last_seen = cls.objects.filter(name=name).values_list("last_seen", flat=True).first()
        return None if last_seen is None else timezone.now() - last_seen

    # The mail-path services' contract (docs/load.md): each beats "mail_<name>" at least every
    # MAIL_SERVICE_HEARTBEAT_INTERVAL seconds while it can answer; one seen within a day but not within
    # MAIL_SERVICE_MISSED_BEATS intervals is down; one not seen for a day is treated as removed.
    MAIL_SERVICE_PREFIX = "mail_"
    MAIL_SERVICE_FORGOTTEN = timedelta(days=1)

    @classmethod
    def mail_services(cls, now: datetime | None = None) -> dict[str, tuple[datetime, bool]]:
        """name -> (last seen, down?) of every mail-path service seen within the last day."""
        now = now or timezone.now()
        late = timedelta(seconds=settings.MAIL_SERVICE_HEARTBEAT_INTERVAL * settings.MAIL_SERVICE_MISSED_BEATS)
        beats = cls.objects.filter(
            name__startswith=cls.MAIL_SERVICE_PREFIX, last_seen__gte=now - cls.MAIL_SERVICE_FORGOTTEN
        )
        return {name: (last_seen, now - last_seen > late) for name, last_seen in beats.values_list("name", "last_seen")}


class SendingWorker(models.Model):
    """A worker process that claims outgoing messages, and what it last said about itself.

    Each worker process beats every ``WORKER_HEARTBEAT_SECONDS`` from a thread of its own
    (``portal.workers``): ``last_seen``, and ``busy_since``, the start of the batch it is sending (None when
    idle). A row whose ``claimed_by`` names a process that stopped beating, or that has moved on to a later
    batch, has been abandoned; the tick takes it back (``portal.sending.recover_abandoned``).
    """

    name = models.CharField(max_length=200, unique=True)  # host:pid:start token (a reused pid is not the same process)
    host = models.CharField(max_length=150)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
    busy_since = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.host} pid {self.pid}"


class OutgoingMessage(models.Model):
    """What every outgoing message row shares: the one sending engine (``portal.sending``) works on these fields.

    A row is claimed by a conditional update (pending -> sending), noted as handed over at the mail
    server's commit point, and marked sent only on the server's acceptance; failures go back to pending
    with a backoff until the retry window closes, then to failed with the error. A row whose worker died
    between the hand-over and the server's answer is "delivery uncertain": it may or may not have arrived,
    and it is sent again only when IT staff ask.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        UNCERTAIN = "uncertain", "Delivery uncertain"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the retry window (a day by default) started: created_at, or a retry by hand on a failed row.
    retry_from = models.DateTimeField(default=timezone.now)
    # When a send task was last published for the row / when a worker claimed it; recovery reads these.
    queued_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The worker process (``SendingWorker.name``) that holds the row: took it into the batch it is running
    # (still pending) or claimed it (sending); kept once sent, to say who sent it.
    claimed_by = models.CharField(max_length=200, blank=True)
    # The last attempt could not reach the server (nothing was offered): the tick sends it as soon as the
    # server answers again instead of waiting out the backoff.
    server_unreachable = models.BooleanField(default=False)
    # The commit point: the whole message was with the server (SMTP: just before the final dot).
    handed_over_at = models.DateTimeField(null=True, blank=True)
    # The server's acceptance.
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class AlertChannel(models.Model):
    """A place IT alerts go besides email (ntfy, Teams, Slack, Telegram, Matrix, a webhook...): one Apprise URL.

    The URL holds the channel's tokens: it is never shown in full after saving, never logged and never
    written to the audit log (``masked_url`` is what pages show).
    """

    class Severity(models.TextChoices):
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    name = models.CharField(max_length=100, unique=True)
    url = models.TextField("Apprise URL")
    severities = models.JSONField(default=list, help_text="The alert severities this channel receives.")
    enabled = models.BooleanField(default=True)
    last_result = models.CharField(max_length=500, blank=True)
    last_result_ok = models.BooleanField(null=True, blank=True)
    last_result_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def masked_url(self) -> str:
        from portal.channels import mask_url

        return mask_url(self.url)

    def takes(self, severity: str) -> bool:
        return self.enabled and severity in self.severities

    def severities_label(self) -> str:
        return ", ".join(self.Severity(s).label for s in self.severities if s in self.Severity.values) or "none"


class OutboxMessage(OutgoingMessage):
    """One message to one destination: an email (to a list of addresses) or an alert channel.

    ``key`` says what the message is about and where it goes (never a timestamp), so the same event
    queued twice is one row. Bodies that hold a secret (``sensitive``: one-time links) are blanked once
    the server has accepted the message.
    """

    key = models.CharField(max_length=300, unique=True)
    kind = models.CharField(max_length=60, db_index=True)
    severity = models.CharField(max_length=10, blank=True, help_text="For alerts: warning or critical.")
    to = models.JSONField(default=list, blank=True)
    channel = models.ForeignKey(AlertChannel, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages")
    # Kept as text so the list still says where a message went after its channel is deleted.
    channel_name = models.CharField(max_length=100, blank=True)
    subject = models.CharField(max_length=300)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    sensitive = models.BooleanField(default=False, help_text="Bodies are blanked once sent (one-time links).")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["channel", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.destination} ({self.status})"

    @property
    def destination(self) -> str:
        return f"channel “{self.channel_name}”" if self.channel_name else ", ".join(self.to)

    @property
    def kind_words(self) -> str:
        """What kind of message this is, in words ("One-time code reused")."""
        return kind_words(self.kind)
