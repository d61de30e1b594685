"""The sending guard's data: limits, who may send as which address, totals, refusals, relay attempts, suspensions.

Edited by IT staff (the service reloads within a second, through ``SendingState.version``):
``SendingSettings`` (the organisation's limits, soft mark and burst rule), ``LimitOverride`` (per role or
per person), ``SenderAlias`` and ``SharedMailbox`` (addresses a person may use as envelope sender besides
their own).

Written by the policy service in batches (never one write per message): ``SendingHour`` (totals per login
and hour), ``PolicyRefusal`` (deferrals and refusals, summed per batch), ``RelayAttempt`` (per client
address and hour). ``SendingSuspension`` is one suspected hijack: opened by the service's burst rule (or
by IT staff), closed by IT staff with a reason. ``SenderProfile`` keeps each person's usual hour, worked
out by the tick from ``SendingHour``.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from accounts.addresses import canonical
from accounts.roles import Role
from portal.singletons import Singleton

__all__ = [
    "LimitOverride",
    "PolicyRefusal",
    "RelayAttempt",
    "SenderAlias",
    "SenderProfile",
    "SendingHour",
    "SendingSettings",
    "SendingState",
    "SendingSuspension",
    "SharedMailbox",
]


class SendingSettings(Singleton):
    """The organisation's sending limits and the rules of the guard (the *Sending settings* page)."""

    recipients_per_hour = models.PositiveIntegerField(
        default=200, validators=[MinValueValidator(1)], help_text="Recipients one person may send to in an hour."
    )
    recipients_per_day = models.PositiveIntegerField(
        default=1000, validators=[MinValueValidator(1)], help_text="Recipients one person may send to in a day."
    )
    messages_per_minute = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1)], help_text="Messages one person may send in a minute."
    )
    soft_mark_percent = models.PositiveSmallIntegerField(
        "soft mark (%)",
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text="IT staff are alerted when someone reaches this share of a limit.",
    )
    burst_multiplier = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(2), MaxValueValidator(1000)],
        help_text="Sending is suspended when someone tries this many times their usual hour's recipients in an hour.",
    )
    burst_floor = models.PositiveIntegerField(
        "smallest usual hour",
        default=30,
        validators=[MinValueValidator(1)],
        help_text="The usual hour assumed for people with little history (recipients).",
    )
    allow_subaddress = models.BooleanField(
        "allow sub-addresses",
        default=True,
        help_text="Someone who may send as erin@example.com may also send as erin+news@example.com.",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "sending settings"
        verbose_name_plural = "sending settings"

    def __str__(self) -> str:
        return "sending settings"


def fresh_version() -> int:
    """Start from the clock: after a restore the service never mistakes a new small version for its own."""
    return time.time_ns() // 1000


class SendingState(Singleton):
    """The change counter the policy service polls, what it last reported, and the tick's claims."""

    version = models.BigIntegerField(default=fresh_version)
    changed_at = models.DateTimeField(default=timezone.now)
    service_seen_at = models.DateTimeField(null=True, blank=True)
    service_host = models.CharField(max_length=200, blank=True)
    service_listen = models.CharField(max_length=300, blank=True)
    service_counters = models.CharField(max_length=20, blank=True)
    # Claimed by the tick with a conditional update (two beats never recompute or prune twice).
    next_profiles_at = models.DateTimeField(default=timezone.now)
    next_prune_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "sending guard state"

    def __str__(self) -> str:
        return f"sending version {self.version}"

    @classmethod
    def bump(cls) -> None:
        """Tell the policy service that something it serves changed (inside the changing transaction)."""
        cls.store(version=F("version") + 1, changed_at=timezone.now())

    @classmethod
    def current_version(cls) -> int:
        return cls.objects.filter(pk=cls.SINGLETON_PK).values_list("version", flat=True).first() or 0


LIMIT_FIELDS = ("recipients_per_hour", "recipients_per_day", "messages_per_minute")


class LimitOverride(models.Model):
    """Limits of one role or one person that differ from the organisation's (blank: as the next level up).

    A person's override comes first, then their role's, then the organisation's, field by field."""

    role = models.CharField(max_length=20, choices=Role.choices, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="sending_limits"
    )
    recipients_per_hour = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    recipients_per_day = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    messages_per_minute = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    note = models.CharField(max_length=200, blank=True, help_text="Why, for the next person who reads this.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(role="") & Q(user__isnull=False)) | (~Q(role="") & Q(user__isnull=True)),
                name="limit_override_for_a_role_or_a_person",
            ),
            models.UniqueConstraint(fields=["role"], condition=~Q(role=""), name="one_limit_override_per_role"),
        ]

    def __str__(self) -> str:
        return f"limits of {self.user or self.get_role_display()}"

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in LIMIT_FIELDS)


class SenderAlias(models.Model):
    """Another address one person may use as envelope sender (an old name, a role address of theirs)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sender_aliases")
    address = models.EmailField()
    canonical_address = models.CharField(max_length=254, unique=True, editable=False)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["address"]
        verbose_name_plural = "sender aliases"

    def __str__(self) -> str:
        return f"{self.address} (alias of {self.user_id})"

    def save(self, *args, **kwargs) -> None:
        self.canonical_address = canonical(self.address)
        super().save(*args, **kwargs)


class SharedMailbox(models.Model):
    """An address several people send as (info@, sales@): its members may use it as envelope sender."""

    address = models.EmailField()
    canonical_address = models.CharField(max_length=254, unique=True, editable=False)
    name = models.CharField(max_length=100, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="shared_mailboxes")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["address"]
        verbose_name_plural = "shared mailboxes"

    def __str__(self) -> str:
        return self.address

    def save(self, *args, **kwargs) -> None:
        self.canonical_address = canonical(self.address)
        super().save(*args, **kwargs)


class SenderProfile(models.Model):
    """A person's usual hour: what the burst rule compares the last hour with (worked out by the tick)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="sender_profile"
    )
    usual_hour = models.PositiveIntegerField(null=True, blank=True)
    active_hours = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"usual hour of {self.user_id}: {self.usual_hour}"


class SendingHour(models.Model):
    """What one login sent (and tried) in one hour; written by the policy service in batches."""

    hour = models.DateTimeField()
    login = models.CharField(max_length=254)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="sending_hours"
    )
    messages = models.PositiveIntegerField(default=0)  # accepted at the end of the message
    recipients = models.PositiveIntegerField(default=0)  # of those messages
    attempted = models.PositiveIntegerField(default=0)  # recipients asked for (RCPT), whatever the answer
    deferred = models.PositiveIntegerField(default=0)  # recipients deferred by a limit
    refused = models.PositiveIntegerField(default=0)  # recipients refused (sender mismatch, suspended)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["login", "hour"], name="one_sending_hour_per_login")]
        indexes = [models.Index(fields=["hour"]), models.Index(fields=["user", "hour"])]

    def __str__(self) -> str:
        return f"{self.login} at {self.hour:%Y-%m-%d %H}:00: {self.messages} messages"


class PolicyRefusal(models.Model):
    """Requests the service deferred or refused, summed per batch (login, kind, detail, client address)."""

    class Kind(models.TextChoices):
        HOUR = "hour", "Recipients per hour reached"
        DAY = "day", "Recipients per day reached"
        MINUTE = "minute", "Messages per minute reached"
        SENDER = "sender", "Sender address not the login's"
        SUSPENDED = "suspended", "Sending suspended"

    DEFERRALS = (Kind.HOUR, Kind.DAY, Kind.MINUTE)

    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    login = models.CharField(max_length=254)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    detail = models.CharField(max_length=254, blank=True)  # the refused sender address, or the limit
    client_address = models.GenericIPAddressField(null=True, blank=True)
    count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-last_at", "-pk"]
        indexes = [models.Index(fields=["last_at"]), models.Index(fields=["user", "last_at"])]

    def __str__(self) -> str:
        return f"{self.login}: {self.get_kind_display()} x{self.count}"

    @property
    def is_deferral(self) -> bool:
        return self.kind in self.DEFERRALS


class RelayAttempt(models.Model):
    """An unauthenticated client outside ``mynetworks`` asking to relay, counted per address and hour."""

    hour = models.DateTimeField()
    client_address = models.GenericIPAddressField()
    attempts = models.PositiveIntegerField(default=0)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    last_sender = models.CharField(max_length=254, blank=True)
    last_recipient = models.CharField(max_length=254, blank=True)
    helo = models.CharField(max_length=254, blank=True)

    class Meta:
        ordering = ["-last_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["client_address", "hour"], name="one_relay_row_per_hour")]
        indexes = [models.Index(fields=["hour"])]

    def __str__(self) -> str:
        return f"{self.client_address}: {self.attempts} relay attempts"


class SendingSuspensionQuerySet(models.QuerySet):
    def open(self) -> SendingSuspensionQuerySet:
        return self.filter(lifted_at__isnull=True)


class SendingSuspension(models.Model):
    """A suspected hijack: the person's sending app passwords are suspended until IT staff lift it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sending_suspensions")
    started_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=300)
    # The figures that set it off (recipients tried in the last hour, the usual hour, the threshold...).
    evidence = models.JSONField(default=dict, blank=True)
    suspended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )  # empty: the guard's burst rule
    app_passwords_suspended = models.PositiveIntegerField(default=0)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lift_reason = models.CharField(max_length=300, blank=True)

    objects = SendingSuspensionQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(lifted_at__isnull=True), name="one_open_sending_suspension"
            )
        ]

    def __str__(self) -> str:
        return f"sending of {self.user_id} suspended at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.lifted_at is None
